"""License and personal-data compliance over a model version's whole upstream lineage.

The walk visits the model's own artifact license, every dataset it was trained, validated or
tested on (and the datasets those derive from), every base model transitively (with their
datasets), and the software dependencies captured at registration. Each finding names its path
through the lineage and the license property it rests on.

For an expression with alternatives (``A OR B``) the alternative with the fewest violations, then
the fewest unknowns and obligations, is the one evaluated; ``AND`` needs every part; a ``WITH``
exception (a linking exception) weakens strong copyleft to weak.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from license_expression import LicenseExpression
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.dataset.models import PERSONAL_CLASSES, DatasetVersion
from governance.errors import Conflict, InvalidInput
from governance.license import service as license_service
from governance.license.expression import Term, _spdx, alternatives, parse
from governance.license.models import License
from governance.mlmodel.models import ModelVersion

ARROW = " → "
# A legal basis that permits processing for research only: GDPR Art. 9(2)(j) and Art. 89
# (scientific research), or one that says research. Personal data held on it cannot serve a
# commercial model.
RESEARCH_ONLY_BASIS = re.compile(
    r"research|scientific|9\s*\(\s*2\s*\)\s*\(\s*j\s*\)|\bart(?:icle)?\.?\s*89\b", re.IGNORECASE
)


def research_only(legal_basis: str | None) -> bool:
    """Whether ``legal_basis`` permits processing for (scientific) research only."""
    return bool(legal_basis) and RESEARCH_ONLY_BASIS.search(legal_basis or "") is not None


@dataclass(frozen=True)
class Finding:
    license: str | None
    property: str
    path: tuple[str, ...]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "license": self.license,
            "property": self.property,
            "path": list(self.path),
            "message": self.message,
        }


@dataclass(frozen=True)
class ComplianceReport:
    model: str
    intended_use: str
    violations: tuple[Finding, ...]
    obligations: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    attributions: tuple[dict[str, Any], ...]

    @property
    def compliant(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "intended_use": self.intended_use,
            "compliant": self.compliant,
            "violations": [f.to_dict() for f in self.violations],
            "obligations": [f.to_dict() for f in self.obligations],
            "warnings": [f.to_dict() for f in self.warnings],
            "attributions": list(self.attributions),
        }


@dataclass
class _Outcome:
    violations: list[Finding] = field(default_factory=list)
    obligations: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def extend(self, other: _Outcome) -> None:
        self.violations += other.violations
        self.obligations += other.obligations
        self.warnings += other.warnings

    def cost(self) -> tuple[int, int, int]:
        return len(self.violations), len(self.warnings), len(self.obligations)


class _Walk:
    def __init__(self, mv: ModelVersion, catalog: dict[str, License]) -> None:
        self.target = mv
        self.use = mv.intended_use
        self.catalog = catalog
        self.catalog_lower = {k.lower(): v for k, v in catalog.items()}
        self.outcome = _Outcome()
        self.attributions: list[dict[str, Any]] = []
        self.software_notices: dict[str, list[str]] = {}

    # -- licenses ---------------------------------------------------------------------------
    def _alternatives(self, text: str) -> list[tuple[Term, ...]] | None:
        parsed: LicenseExpression | None
        try:
            parsed = parse(text, self.catalog.keys())
        except InvalidInput:
            try:
                parsed = _spdx().parse(text, validate=False)
            except Exception:
                return None
        return alternatives(parsed) if parsed is not None else None

    def evaluate(self, text: str | None, *, role: str, ref: str, path: tuple[str, ...]) -> None:
        if not text:
            if role == "base_model":
                self.outcome.warnings.append(
                    Finding(None, "missing_license", path, f"base model {ref} has no license recorded")
                )
            elif role == "software":
                self.outcome.warnings.append(
                    Finding(
                        None,
                        "missing_license",
                        path,
                        f"software dependency {ref} declares no license we recognise",
                    )
                )
            return
        options = self._alternatives(text)
        if options is None:
            self.outcome.warnings.append(
                Finding(
                    text,
                    "unknown_license",
                    path,
                    f"{ref} has a license expression that cannot be parsed: '{text}'",
                )
            )
            return
        best: _Outcome | None = None
        for option in options:
            outcome = _Outcome()
            for term in option:
                self._term(term, role=role, ref=ref, path=path, expression=text, into=outcome)
            if best is None or outcome.cost() < best.cost():
                best = outcome
        assert best is not None
        self.outcome.extend(best)

    def _term(
        self, term: Term, *, role: str, ref: str, path: tuple[str, ...], expression: str, into: _Outcome
    ) -> None:
        lic = self.catalog.get(term.license) or self.catalog_lower.get(term.license.lower())
        name = str(term)
        target = self.target.ref
        if lic is None:
            into.warnings.append(
                Finding(
                    name,
                    "unknown_license",
                    path,
                    f"{ref} is under {name}, which is not in the license catalog",
                )
            )
            return
        what = {
            "dataset": "dataset",
            "base_model": "base model",
            "model": "model artifact",
            "software": "package",
        }[role]
        if not lic.commercial_use:
            if self.use == "commercial":
                into.violations.append(
                    Finding(
                        name,
                        "commercial_use",
                        path,
                        f"{what} {ref} is under {name}, which does not allow commercial use, "
                        f"but {target} is intended for commercial use",
                    )
                )
            elif self.use == "internal":
                into.warnings.append(
                    Finding(
                        name,
                        "commercial_use",
                        path,
                        f"{what} {ref} is under {name} (non-commercial): internal use must bring no commercial "
                        f"advantage; have it reviewed",
                    )
                )
        if not lic.derivatives:
            if role == "base_model":
                into.violations.append(
                    Finding(
                        name,
                        "no_derivatives",
                        path,
                        f"{target} is fine-tuned from {ref}, whose license {name} allows no derivatives",
                    )
                )
            elif role == "dataset":
                into.warnings.append(
                    Finding(
                        name,
                        "no_derivatives",
                        path,
                        f"{target} was trained on {ref} under {name} (no derivatives): whether a trained model "
                        f"is a derivative is unsettled; have it reviewed",
                    )
                )
        copyleft = lic.copyleft
        if term.exception and copyleft == "strong":
            copyleft = "weak"
        if role in ("dataset", "base_model") and lic.share_alike:
            into.obligations.append(
                Finding(
                    name,
                    "share_alike",
                    path,
                    f"{ref} is under {name} (share-alike): what is derived from it must be shared under the "
                    f"same terms when distributed",
                )
            )
        if role == "software" and copyleft != "none":
            message = {
                "weak": f"{ref} is under {name} (weak copyleft): changes to it must be published under {name}",
                "strong": f"distributing {target} with {ref} requires offering its source under {name}",
                "network": f"serving {target} over a network with {ref} requires offering its source under {name}",
            }[copyleft]
            into.obligations.append(Finding(name, "copyleft", path, message))
        if lic.attribution:
            if role == "software":
                self.software_notices.setdefault(name, []).append(ref)
            else:
                into.obligations.append(
                    Finding(
                        name,
                        "attribution",
                        path,
                        f"credit {ref} ({name}) wherever {target} is used or shared",
                    )
                )
                self.attributions.append({"ref": ref, "kind": role, "license": name, "url": lic.url})
        if lic.use_restrictions:
            into.obligations.append(
                Finding(
                    name,
                    "use_restrictions",
                    path,
                    f"{ref} is under {name}, whose use restrictions bind {target}'s users: "
                    + "; ".join(lic.use_restrictions),
                )
            )

    # -- lineage ----------------------------------------------------------------------------
    def dataset(self, dv: DatasetVersion, path: tuple[str, ...], seen: frozenset[int]) -> None:
        if dv.id in seen:
            raise Conflict(f"lineage cycle: dataset {dv.ref} derives from itself")
        path = (*path, dv.ref)
        self.evaluate(dv.license_expression, role="dataset", ref=dv.ref, path=path)
        if dv.personal_data in PERSONAL_CLASSES:
            if not dv.legal_basis:
                self.outcome.warnings.append(
                    Finding(
                        None,
                        "legal_basis",
                        path,
                        f"dataset {dv.ref} holds {dv.personal_data} data but no legal basis is recorded",
                    )
                )
            elif research_only(dv.legal_basis) and self.use != "research":
                message = (
                    f"dataset {dv.ref} holds {dv.personal_data} data under a research-only legal basis "
                    f"('{dv.legal_basis}'), but {self.target.ref} is intended for {self.use} use"
                )
                if self.use == "commercial":
                    self.outcome.violations.append(Finding(None, "legal_basis_purpose", path, message))
                else:
                    self.outcome.warnings.append(
                        Finding(None, "legal_basis_purpose", path, message + "; have it reviewed")
                    )
            if not dv.jurisdictions:
                self.outcome.warnings.append(
                    Finding(
                        None,
                        "jurisdiction",
                        path,
                        f"dataset {dv.ref} holds {dv.personal_data} data but no jurisdiction is recorded",
                    )
                )
        for parent in dv.parents:
            self.dataset(parent, path, seen | {dv.id})

    def model(self, mv: ModelVersion) -> None:
        root: tuple[str, ...] = (mv.ref,)
        self.evaluate(mv.license_expression, role="model", ref=mv.ref, path=root)
        for link in mv.datasets:
            self.dataset(link.dataset_version, root, frozenset())
        path = root
        seen = {mv.id}
        node = mv.base_model
        while node is not None:
            if node.id in seen:
                raise Conflict(f"lineage cycle: {node.ref} is its own ancestor")
            seen.add(node.id)
            path = (*path, node.ref)
            self.evaluate(node.license_expression, role="base_model", ref=node.ref, path=path)
            for link in node.datasets:
                self.dataset(link.dataset_version, path, frozenset())
            node = node.base_model
        for dep in mv.dependencies or []:
            ref = f"{dep.get('name')}=={dep.get('version')}"
            self.evaluate(dep.get("license"), role="software", ref=ref, path=(*root, ref))
        if self.software_notices:
            licenses = ", ".join(sorted(self.software_notices))
            count = sum(len(v) for v in self.software_notices.values())
            self.outcome.obligations.append(
                Finding(
                    licenses,
                    "attribution",
                    root,
                    f"ship the copyright and license notices of {count} software dependencies ({licenses})",
                )
            )
            for name, refs in sorted(self.software_notices.items()):
                for ref in refs:
                    self.attributions.append({"ref": ref, "kind": "software", "license": name, "url": None})


def _dedupe(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    return tuple(dict.fromkeys(findings))


def check(session: Session, *, mv: ModelVersion, actor: str | None = None) -> ComplianceReport:
    """Walk ``mv``'s upstream lineage; with ``actor`` the check is recorded as an audit event."""
    walk = _Walk(mv, license_service.catalog(session))
    walk.model(mv)
    report = ComplianceReport(
        model=mv.ref,
        intended_use=mv.intended_use,
        violations=_dedupe(walk.outcome.violations),
        obligations=_dedupe(walk.outcome.obligations),
        warnings=_dedupe(walk.outcome.warnings),
        attributions=tuple({(a["ref"], a["license"]): a for a in walk.attributions}.values()),
    )
    if actor is not None:
        audit_service.record(
            session,
            actor=actor,
            action="compliance.check",
            entity_type="model_version",
            entity_id=mv.ref,
            changes={
                "compliant": report.compliant,
                "violations": [f.to_dict() for f in report.violations],
                "obligations": len(report.obligations),
                "warnings": len(report.warnings),
            },
        )
    return report


def format_path(path: Sequence[str]) -> str:
    return ARROW.join(path)
