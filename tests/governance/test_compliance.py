"""Compliance rules over the lineage: violations, obligations and warnings, with their paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from governance.auth.principal import API_KEY, Principal
from governance.compliance import service as compliance
from governance.db import Database
from governance.errors import ComplianceViolation, Conflict
from governance.mlmodel.models import ModelVersion
from governance.models import AuditEvent
from governance.promotion import promote
from tests.governance import factories as make

EDITOR = Principal(name="t", role="editor", via=API_KEY)


def _props(findings: tuple[compliance.Finding, ...]) -> set[tuple[str, str]]:
    return {(f.property, " → ".join(f.path)) for f in findings}


def test_non_commercial_data_by_intended_use(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        make.dataset(s, tmp_path, "faces@3", "CC-BY-NC-4.0")
        reports = {
            use: compliance.check(
                s, mv=make.model(s, tmp_path, f"m-{use}@1", use=use, trained_on=["faces@3"])
            )
            for use in ("commercial", "internal", "research")
        }
    assert _props(reports["commercial"].violations) == {("commercial_use", "m-commercial@1 → faces@3")}
    assert not reports["internal"].violations
    assert ("commercial_use", "m-internal@1 → faces@3") in _props(reports["internal"].warnings)
    assert not reports["research"].violations and not reports["research"].warnings


def test_transitive_chain_names_the_whole_path(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        make.dataset(s, tmp_path, "faces@3", "CC-BY-NC-4.0")
        make.dataset(s, tmp_path, "tx@1", "CC0-1.0")
        make.model(s, tmp_path, "root@1", use="research", license="Apache-2.0", trained_on=["faces@3"])
        make.model(s, tmp_path, "base@1", use="research", license="MIT", base="root@1")
        fraud = make.model(s, tmp_path, "fraud@2", trained_on=["tx@1"], base="base@1")
        report = compliance.check(s, mv=fraud)
    assert _props(report.violations) == {("commercial_use", "fraud@2 → base@1 → root@1 → faces@3")}
    assert report.violations[0].license == "CC-BY-NC-4.0"


def test_no_derivatives_base_model_is_a_violation_and_nd_data_a_warning(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        make.dataset(s, tmp_path, "nd@1", "CC-BY-ND-4.0")
        make.model(s, tmp_path, "frozen@1", use="research", license="CC-BY-ND-4.0")
        tuned = make.model(s, tmp_path, "tuned@1", base="frozen@1", trained_on=["nd@1"])
        report = compliance.check(s, mv=tuned)
    assert _props(report.violations) == {("no_derivatives", "tuned@1 → frozen@1")}
    assert ("no_derivatives", "tuned@1 → nd@1") in _props(report.warnings)


def test_or_takes_the_permissive_alternative_and_and_needs_all(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        make.dataset(s, tmp_path, "either@1", "CC-BY-NC-4.0 OR CC0-1.0")
        make.dataset(s, tmp_path, "both@1", "CC0-1.0 AND CC-BY-NC-4.0")
        either = compliance.check(s, mv=make.model(s, tmp_path, "a@1", trained_on=["either@1"]))
        both = compliance.check(s, mv=make.model(s, tmp_path, "b@1", trained_on=["both@1"]))
    assert not either.violations and not either.obligations
    assert _props(both.violations) == {("commercial_use", "b@1 → both@1")}


def test_share_alike_attribution_and_rail_obligations(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        make.dataset(s, tmp_path, "osm@1", "ODbL-1.0")
        make.model(s, tmp_path, "rail@1", use="research", license="OpenRAIL-M")
        mv = make.model(s, tmp_path, "m@1", trained_on=["osm@1"], base="rail@1")
        report = compliance.check(s, mv=mv)
    props = _props(report.obligations)
    assert {
        ("share_alike", "m@1 → osm@1"),
        ("attribution", "m@1 → osm@1"),
        ("use_restrictions", "m@1 → rail@1"),
        ("attribution", "m@1 → rail@1"),
    } <= props
    assert {a["ref"] for a in report.attributions} == {"osm@1", "rail@1"}
    assert not report.violations


def test_software_dependencies(db: Database, tmp_path: Path) -> None:
    deps = [
        {"name": "agpl-thing", "version": "1.0", "license": "AGPL-3.0-only"},
        {
            "name": "gpl-with-exception",
            "version": "2.0",
            "license": "GPL-2.0-only WITH Classpath-exception-2.0",
        },
        {"name": "mystery", "version": "0.1", "license": None},
        {"name": "odd", "version": "3", "license": "HPND"},
        {"name": "plain", "version": "1", "license": "MIT"},
    ]
    with db.transaction() as s:
        report = compliance.check(s, mv=make.model(s, tmp_path, "svc@1", dependencies=deps))
    messages = {f.path[-1]: f.message for f in report.obligations if f.property == "copyleft"}
    assert "over a network" in messages["agpl-thing==1.0"]
    assert "changes to it must be published" in messages["gpl-with-exception==2.0"]  # weakened by WITH
    warned = {(f.property, f.path[-1]) for f in report.warnings}
    assert ("missing_license", "mystery==0.1") in warned
    assert ("unknown_license", "odd==3") in warned
    assert not report.violations


def test_personal_data_without_legal_basis_is_a_warning(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        make.dataset(s, tmp_path, "patients@1", "CC0-1.0", personal_data="sensitive")
        make.dataset(
            s,
            tmp_path,
            "ok@1",
            "CC0-1.0",
            personal_data="personal",
            legal_basis="GDPR Art. 6(1)(b)",
            jurisdictions=["gdpr"],
        )
        report = compliance.check(s, mv=make.model(s, tmp_path, "m@1", trained_on=["patients@1", "ok@1"]))
    assert _props(report.warnings) == {
        ("legal_basis", "m@1 → patients@1"),
        ("jurisdiction", "m@1 → patients@1"),
    }


def test_a_cycle_written_into_the_database_is_reported(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        a = make.model(s, tmp_path, "a@1", use="research")
        b = make.model(s, tmp_path, "b@1", use="research", base="a@1")
        s.execute(update(ModelVersion).where(ModelVersion.id == a.id).values(base_model_version_id=b.id))
    with db.transaction() as s, pytest.raises(Conflict, match="lineage cycle"):
        compliance.check(s, mv=s.get(ModelVersion, b.id))  # type: ignore[arg-type]


def test_refused_promotion_changes_nothing(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        make.dataset(s, tmp_path, "nc@1", "CC-BY-NC-SA-4.0")
        mv_id = make.model(s, tmp_path, "m@1", trained_on=["nc@1"]).id
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(ComplianceViolation), db.transaction() as s:
        promote(s, mv=s.get(ModelVersion, mv_id), stage="production", principal=EDITOR)  # type: ignore[arg-type]
    with db.transaction() as s:
        assert s.get(ModelVersion, mv_id).stage == "candidate"  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == events
