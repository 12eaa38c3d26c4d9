"""The library-version check serving runs when it loads a model."""

from __future__ import annotations

from models.versions import ABSENT, library_versions, version_mismatches


def test_installed_versions_are_reported() -> None:
    versions = library_versions()
    assert versions["numpy"] != ABSENT and versions["python"].count(".") == 2


def test_same_versions_have_no_mismatch() -> None:
    assert version_mismatches(library_versions()) == {}


def test_a_changed_library_is_reported_with_both_versions() -> None:
    installed = {"python": "3.11.7", "numpy": "2.1.0", "scikit-learn": "1.5.2"}
    trained = {"python": "3.11.9", "numpy": "1.26.4", "scikit-learn": "1.5.2", "gate": "passed"}
    assert version_mismatches(trained, installed) == {
        "numpy": {"trained": "1.26.4", "installed": "2.1.0"}
    }


def test_python_minor_change_and_missing_library_are_reported() -> None:
    installed = {"python": "3.12.1", "onnxruntime": ABSENT}
    trained = {"python": "3.11.7", "onnxruntime": "1.20.0"}
    assert set(version_mismatches(trained, installed)) == {"python", "onnxruntime"}
