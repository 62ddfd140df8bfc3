"""Labelled production records of a model version, read batch by batch."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
from sqlalchemy.orm import Session

from governance.data import read_table
from governance.mlmodel.models import ModelVersion
from governance.production.service import _labels_for, list_batches


def labelled_records(session: Session, *, mv: ModelVersion, columns: list[str]) -> Iterator[pd.DataFrame]:
    """Per prediction batch: its rows that have a label, with ``columns`` and ``label``."""
    for batch in list_batches(session, mv=mv, kind="predictions"):
        frame = read_table(batch.location, ["request_id", *columns], format="parquet").to_pandas()
        labels = _labels_for(session, mv=mv, request_ids=frame["request_id"].tolist())
        if len(labels):
            joined = frame.merge(labels, on="request_id", how="inner")
            yield joined.drop(columns="request_id")
