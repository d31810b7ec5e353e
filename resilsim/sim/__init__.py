"""The SimPy shell: the only package that knows SimPy. It wires the pure pieces together."""
from .run import simulate

__all__ = ["simulate"]
