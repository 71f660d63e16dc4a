"""bhb_viewer: vet Blue Horizontal Branch star candidates with the BATMM network."""

__version__ = "0.1.0"
__all__ = ["__version__"]
