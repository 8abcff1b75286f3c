"""ragdistill-bow: bag-of-words embedders, trained by ragdistill from a hashing teacher."""

__version__ = "0.1.0"
