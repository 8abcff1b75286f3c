"""Built-in plugin: the dataset loaders, registered as a third-party plugin would."""

from __future__ import annotations

from ragdistill.hookspecs import RegisterDataset, hookimpl


@hookimpl
def register_datasets(register: RegisterDataset) -> None:
    # The loader modules import only the standard library and ragdistill itself.
    from ragdistill.data import BeirDataset, Tau2BankingDataset, TextFolderDataset
    from ragdistill.data.squad import SquadDataset

    register("beir", BeirDataset)
    register("text-folder", TextFolderDataset)
    register("tau2-banking", Tau2BankingDataset)
    register("squad", SquadDataset)
