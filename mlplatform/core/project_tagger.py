"""What a registered version holds: the tagger as MLflow's standard path serves it.

`mlflow models serve` and `mlflow.pyfunc.load_model` call the saved object's `predict` on a frame
of named `title` and `description` columns; this class answers there what `mlplatform serve`
answers (the tag, its probability, every class's, the precision-mode tag). It is saved with skops
like the pipeline it wraps, so it loads only as a trusted type and runs no code of its own.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import pandas as pd

from mlplatform.core.labels import OTHER
from mlplatform.core.text import project_text
from mlplatform.core.training import Prediction, Tagger

INPUT_COLUMNS = ("title", "description")
OUTPUT_COLUMNS = tuple(field.name for field in fields(Prediction))


class ProjectTagger:
    """The fitted pipeline, its precision-mode threshold and the class that stands for "other"."""

    def __init__(self, pipeline, threshold: float | None = None, other: str = OTHER) -> None:
        self.pipeline = pipeline
        self.threshold = None if threshold is None else float(threshold)
        self.other = other

    @classmethod
    def of(cls, tagger: Tagger) -> ProjectTagger:
        return cls(tagger.estimator, tagger.threshold, tagger.other)

    def tagger(self) -> Tagger:
        return Tagger(self.pipeline, self.threshold, self.other)

    def predict(self, projects: pd.DataFrame) -> pd.DataFrame:
        """One row of `OUTPUT_COLUMNS` per project (a frame with `INPUT_COLUMNS`)."""
        if missing := [column for column in INPUT_COLUMNS if column not in projects]:
            raise ValueError(f"projects lack the column(s) {missing}: expected {INPUT_COLUMNS}")
        answers = self.tagger().predictions(project_text(projects))
        return pd.DataFrame([asdict(answer) for answer in answers], columns=list(OUTPUT_COLUMNS))
