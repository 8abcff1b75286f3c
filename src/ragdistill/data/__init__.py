"""Built-in dataset loaders: BEIR folders, folders of text files, the tau2 banking set."""

from ragdistill.data.beir import BeirDataset
from ragdistill.data.tau2 import Tau2BankingDataset
from ragdistill.data.text_folder import TextFolderDataset

__all__ = ["BeirDataset", "Tau2BankingDataset", "TextFolderDataset"]
