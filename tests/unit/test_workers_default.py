"""``--workers``: ``openclb serve`` defaults to one data-plane process per usable core; Settings to one."""

import os

import pytest

from openclb.cli import _parser, _serve_settings, usable_cores
from openclb.config import Settings


def test_serve_settings_without_workers_flag_one_per_usable_core():
    settings = _serve_settings(_parser().parse_args(["serve", "--metrics-listen", "off"]))
    assert settings.workers == usable_cores() == len(os.sched_getaffinity(0))


def test_serve_settings_workers_flag_wins_and_settings_default_stays_one():
    assert _serve_settings(_parser().parse_args(["serve", "--workers", "3"])).workers == 3
    assert Settings().workers == 1


@pytest.mark.parametrize("count", ["0", "257"])
def test_serve_settings_workers_out_of_range_is_refused(count):
    with pytest.raises(ValueError, match="--workers must be 1-256"):
        _serve_settings(_parser().parse_args(["serve", "--workers", count]))


def test_serve_settings_faults_without_workers_flag_one_process():
    args = _parser().parse_args(["serve", "--faults", "--metrics-listen", "off"])
    assert _serve_settings(args).workers == 1
    assert _serve_settings(_parser().parse_args(["serve", "--faults", "--workers", "2"])).workers == 2
