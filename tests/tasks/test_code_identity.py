"""Code identity: docstrings and comments never change a digest; code does; closures stop where told."""
from __future__ import annotations

import importlib
import sys

from screenalytics.tasks import code_identity


def test_digest_ignores_docstrings_and_comments_but_not_code(tmp_path, monkeypatch):
    package = tmp_path / "screenalytics_probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "stage.py"
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()

    def digest_of(source: str) -> str:
        module.write_text(source)
        code_identity._tree.cache_clear()
        code_identity.digest.cache_clear()
        return code_identity.digest("screenalytics_probe_pkg.stage")

    base = digest_of('"""Doc."""\n\ndef f(x):\n    """Twice."""\n    return 2 * x\n')
    assert digest_of('"""Other words."""\n# a comment\n\ndef f(x):\n    """Two times."""\n    return 2 * x\n') == base
    assert digest_of('"""Doc."""\n\ndef f(x):\n    """Twice."""\n    return 3 * x\n') != base
    sys.modules.pop("screenalytics_probe_pkg", None)
    code_identity._tree.cache_clear()
    code_identity.digest.cache_clear()


def test_closure_follows_lazy_imports_and_stops_at_the_models_package_and_outside():
    closure = code_identity.closure(("screenalytics.tasks.diarize",), frozenset())
    assert "screenalytics.tasks.diarize_voices" in closure and "screenalytics.tasks.runner" in closure
    models = {m for m in closure if m.startswith("screenalytics.tasks.models.")}
    assert models == {"screenalytics.tasks.models.specs"}  # constants only: pyannote_pipeline (lazy) is a model
    outside = frozenset({"screenalytics.tasks.runner"})
    assert "screenalytics.tasks.runner" not in code_identity.closure(("screenalytics.tasks.diarize",), outside)
    assert "screenalytics.tasks.runner" not in code_identity.closure(("screenalytics.tasks.diarize",))  # FRAMEWORK
    net = code_identity.closure(("screenalytics.tasks.models.segmentation",), follow_models=True)
    assert {"screenalytics.tasks.models.onnx_build", "screenalytics.tasks.models.checkpoint"} <= set(net)
