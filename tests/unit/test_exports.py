"""The public namespace is curated (the httpx habit): what is exported is deliberate."""

from __future__ import annotations

import cjt_actors


def test_all_is_sorted_and_complete() -> None:
    """Every public name is in __all__, sorted, and importable."""
    public = {name for name in vars(cjt_actors) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(cjt_actors, name)).__name__ == "module"}
    assert set(cjt_actors.__all__) - {"__version__"} == public - modules
    assert cjt_actors.__all__ == sorted(cjt_actors.__all__)
    for name in cjt_actors.__all__:
        assert getattr(cjt_actors, name) is not None


def test_every_module_declares_all() -> None:
    """Each module says what it offers, so `from x import *` and docs agree with the code."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(cjt_actors.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cjt_actors.{info.name}")
        if info.name == "cli":
            continue  # an entry point, not a library module
        assert hasattr(module, "__all__"), info.name
        for name in module.__all__:
            assert hasattr(module, name), f"{info.name}.{name}"
