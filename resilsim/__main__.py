"""``python -m resilsim``: the command line."""
from .cli import console

console()
