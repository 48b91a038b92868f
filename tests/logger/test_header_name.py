"""The header says who a run is to a person: the Logger's ``name=`` and the command that
ran (``sys.argv``, bounded), written by a real Logger and read back by the real reader."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from torch import nn

import gradtop
from gradtop.logger.model_info import ARGV_MAX_ARGS, ARGV_MAX_CHARS, NAME_MAX_CHARS
from gradtop.records import FORMAT_VERSION, header_from_json
from tests.support import headers, read_records


def _header_of(path: Path, **options: object) -> gradtop.records.Header:
    with gradtop.Logger(path, nn.Sequential(nn.Linear(3, 2)), **options):  # type: ignore[arg-type]
        pass
    (header,) = headers(read_records(path))
    return header


def test_the_header_records_the_name_and_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--lr", "0.1", "--name with space"])
    header = _header_of(tmp_path / "run.jsonl", name="relu-fix")
    assert header.name == "relu-fix"
    assert header.argv == ("train.py", "--lr", "0.1", "--name with space")
    assert header.version == FORMAT_VERSION and FORMAT_VERSION >= "1.4"  # name and argv: 1.4


def test_without_a_name_the_header_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["-c"])  # python -c: no script name
    header = _header_of(tmp_path / "run.jsonl")
    assert header.name == ""
    assert header.argv == ("-c",)


def test_a_long_command_is_cut_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["train.py", *(f"--opt{i}=" + "x" * 300 for i in range(200))]
    monkeypatch.setattr(sys, "argv", argv)
    header = _header_of(tmp_path / "run.jsonl", name="n" * 1000)
    assert header.name == "n" * NAME_MAX_CHARS
    *kept, note = header.argv
    assert len(kept) <= ARGV_MAX_ARGS and sum(map(len, kept)) <= ARGV_MAX_CHARS
    assert kept == [a[: len(k)] for a, k in zip(argv, kept, strict=False)]  # a prefix of each
    cut = len(argv) - len(kept) + sum(1 for a, k in zip(argv, kept, strict=False) if a != k)
    assert note == f"... ({cut} more arguments cut or shortened)" and cut > 180


def test_a_name_that_is_not_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="name must be a str"):
        gradtop.Logger(tmp_path / "run.jsonl", nn.Linear(2, 2), name=3)  # type: ignore[arg-type]


def test_a_header_before_format_1_4_reads_without_name_or_argv() -> None:
    old = {"kind": "header", "version": "1.3", "run_id": "r", "time": 1.0, "params": []}
    header = header_from_json(old)
    assert (header.name, header.argv) == ("", ())
    odd = header_from_json({**old, "name": 7, "argv": ["a", 2, None, "b"]})
    assert (odd.name, odd.argv) == ("", ("a", "b"))  # unusable values are dropped, not fatal


def test_the_lightning_callback_passes_the_name_through(tmp_path: Path) -> None:
    pl = pytest.importorskip("lightning.pytorch")
    import torch
    import torch.nn.functional as F

    from gradtop.integrations.lightning import GradtopCallback

    class Tiny(pl.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 1)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
            x, y = batch
            return F.mse_loss(self.net(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    path = tmp_path / "run.jsonl"
    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8, 1))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[GradtopCallback(path, name="pl-run")],
    )
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=8))
    (header,) = headers(read_records(path))
    assert header.name == "pl-run"
