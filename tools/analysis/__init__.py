"""Analysis: the declarative selection and histogram specification and the tool that applies it."""
