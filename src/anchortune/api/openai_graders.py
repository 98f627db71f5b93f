"""/v1/fine_tuning/alpha/graders: validate a grader and run it on a sample answer, as OpenAI's API has them (the
openai client's `fine_tuning.alpha.graders`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from anchortune.app import graders

router = APIRouter(prefix="/v1/fine_tuning/alpha/graders", tags=["fine-tuning"])


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    grader: dict


class RunRequest(ValidateRequest):
    model_sample: str
    item: dict | None = None


@router.post("/validate")
def validate(request: Request, body: ValidateRequest) -> dict:
    return graders.validate_grader(request.app.state.workspace, body.grader)


@router.post("/run")
def run(request: Request, body: RunRequest) -> dict:
    return graders.run_grader(request.app.state.workspace, body.grader, body.model_sample, body.item)
