"""Tests of invert_pipeline.cli.serve: `invert serve` and `invert notify-retrained` options and errors."""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from invert_pipeline.cli import main


class TestServe:
    def test_help_names_schedule_and_event(self, capsys):
        """`invert serve --help` documents the cron option and the deployments' parameters."""
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "--cron" in text and "model.retrained" in text and "--layers" in text


class TestNotifyRetrained:
    def test_missing_checkpoint_is_one_line(self, tmp_path, capsys):
        """A checkpoint that does not exist is refused before anything is sent."""
        code = main(["notify-retrained", "--model", "resnet18", "--checkpoint", str(tmp_path / "nope.pt"), "--version", "v2"])
        assert code == 2
        assert capsys.readouterr().err.strip() == (
            f"invert notify-retrained: error: --checkpoint {str(tmp_path / 'nope.pt')!r} is not a file: "
            "pass the checkpoint training wrote"
        )

    def test_no_server_configured(self, tmp_path, capsys):
        """Without PREFECT_API_URL the command says how to point it at a server."""
        checkpoint = tmp_path / "v2.pt"
        checkpoint.write_bytes(b"weights")
        with temporary_settings(updates={PREFECT_API_URL: None}):
            code = main(["notify-retrained", "--model", "resnet18", "--checkpoint", str(checkpoint), "--version", "v2"])
        assert code == 2
        assert "PREFECT_API_URL is not set" in capsys.readouterr().err

    def test_metadata_must_be_key_value(self, tmp_path, capsys):
        """Metadata is KEY=VALUE pairs; anything else is refused in one line before anything is sent."""
        checkpoint = tmp_path / "v2.pt"
        checkpoint.write_bytes(b"weights")
        code = main(["notify-retrained", "--model", "resnet18", "--checkpoint", str(checkpoint), "--version", "v2",
                     "--metadata", "job42"])
        assert code == 2
        assert "--metadata takes KEY=VALUE; got 'job42'" in capsys.readouterr().err

    def test_help_names_the_stated_changes(self, capsys):
        """Changes of architecture or preprocessing have their own options, which say they are stated changes."""
        with pytest.raises(SystemExit):
            main(["notify-retrained", "--help"])
        text = capsys.readouterr().out
        assert "--new-architecture" in text and "--new-preprocess" in text and "--new-input-size" in text
