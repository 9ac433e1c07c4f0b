from madagents.cli import entry

entry()
