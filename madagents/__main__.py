from madagents.cli import app

app(prog_name="madagents")
