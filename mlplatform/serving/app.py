"""The prediction service's API.

`POST /predict` and `POST /predict/batch` answer with the serving champion (each request with
one version); `POST /features` returns a project's features as the offline table computes them;
`GET /health` is 200 only while a model is loaded. Every bad request is a 4xx that says what is
wrong: pydantic names the field; a body over the size limit is a 413 before it is read whole.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated, Any

import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlplatform.core.partitions import PARTITION_COLUMN
from mlplatform.serving.champion import ChampionFollower, ServedModel

MAX_BATCH = 1_000  # projects per batch request
NO_TEXT = "title and description are both empty: a project needs some text"


class Project(BaseModel):
    """A project to tag: both fields required; one of them may be empty."""

    model_config = ConfigDict(extra="forbid")

    title: StrictStr
    description: StrictStr

    @model_validator(mode="after")
    def _has_text(self) -> Project:
        if not (self.title.strip() or self.description.strip()):
            raise ValueError(NO_TEXT)
        return self


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projects: Annotated[list[Project], Field(min_length=1, max_length=MAX_BATCH)]


class Answer(BaseModel):
    tag: str
    probability: float
    probabilities: dict[str, float]
    precision_mode_tag: str
    version: str


class BatchAnswer(BaseModel):
    predictions: list[Answer]
    version: str


class Features(BaseModel):
    """A project's row of `project_features`, computed by the same code."""

    text_sha256: str
    clean_text: str
    char_count: int
    word_count: int
    embedding: list[float] | None
    feature_version: str


def create_app(follower: ChampionFollower, max_request_bytes: int) -> FastAPI:
    """The API over `follower`, which it starts and stops with the server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        follower.start()
        yield
        follower.stop()

    app = FastAPI(
        title="mlplatform prediction service",
        description="Tags Made With ML projects with the registry's champion.",
        lifespan=lifespan,
        # Starlette's limit: by Content-Length, or as a chunked body arrives; 413.
        max_body_size=max_request_bytes,
    )

    @app.exception_handler(StarletteHTTPException)  # what FastAPI raises for an unparsable body
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # FastAPI answers a body it cannot decode with a generic 400; say that it is the UTF-8.
        if isinstance(error.__cause__, UnicodeDecodeError):
            detail = f"the body is not UTF-8: {error.__cause__}"
            return JSONResponse({"detail": detail}, status_code=400)
        return await http_exception_handler(request, error)

    # `async`: the model runs on the event loop, not a worker thread; one process answers one
    # request at a time either way (the GIL), and the thread hand-off cost ~10 % of throughput.
    @app.post("/predict", response_model=Answer)
    async def predict(project: Project) -> dict[str, Any]:
        """The champion's answer for one project."""
        model = _serving(follower)
        return _answers(model, [project])[0]

    @app.post("/predict/batch", response_model=BatchAnswer)
    async def predict_batch(batch: Batch) -> dict[str, Any]:
        """The champion's answers for many projects, all from one version."""
        model = _serving(follower)
        return {"predictions": _answers(model, batch.projects), "version": model.version}

    @app.post("/features", response_model=Features)
    def features(project: Project) -> dict[str, Any]:
        """The project's features, as `project_features` stores them."""
        from mlplatform.core.embeddings import sentence_encoder
        from mlplatform.core.features import featurize

        # A request's project has no id or creation time yet: the features do not use them.
        unstored = _frame([project]).assign(id=None, **{PARTITION_COLUMN: None})
        row = featurize(unstored, sentence_encoder().encode).iloc[0]
        return {name: _plain(row[name]) for name in Features.model_fields}

    @app.get("/health")
    def health() -> JSONResponse:
        """200 while a model is loaded (with the last problem, if any); 503 with the reason."""
        status = follower.status()
        body = {
            "serving": status.serving.version if status.serving else None,
            "champion": status.champion,
            "problem": status.problem,
            "checked_at": status.checked_at,
        }
        return JSONResponse(body, status_code=200 if status.serving else 503)

    return app


def _serving(follower: ChampionFollower) -> ServedModel:
    model = follower.serving  # read once: the whole request is answered by this version
    if model is None:
        raise HTTPException(503, detail=follower.status().problem or "no champion loaded")
    return model


def _frame(projects: list[Project]) -> pd.DataFrame:
    return pd.DataFrame(
        {"title": [p.title for p in projects], "description": [p.description for p in projects]}
    )


def _answers(model: ServedModel, projects: list[Project]) -> list[dict[str, Any]]:
    from mlplatform.core.text import one_project_text

    texts = [one_project_text(p.title, p.description) for p in projects]
    predictions = model.tagger.predictions(texts)
    return [{**vars(p), "version": model.version} for p in predictions]


def _plain(value: Any) -> Any:
    """NumPy and Arrow values as JSON's."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
