"""The `episode` flow's parameters as the Prefect UI's deployment form shows them: every field typed and described,
the profile a choice of the existing profiles, no field that reads "Property is type None"."""
from __future__ import annotations

from prefect.utilities.callables import parameter_schema

from screenalytics.flows.episode import episode
from screenalytics.tasks.settings import profiles


def test_every_parameter_is_typed_described_and_never_null():
    schema = parameter_schema(episode.fn).model_dump()
    fields = schema["properties"]
    assert schema["required"] == ["video"]
    for name, field in fields.items():
        assert field.get("description"), name
        assert field.get("type") in ("string", "integer", "object"), (name, field)
        assert "anyOf" not in field, name
    assert sorted(fields["profile"]["enum"]) == profiles()
    assert fields["profile"]["default"] == "balanced"
    assert "STAGE.FIELD" in fields["overrides"]["description"]
