"""/v1/files: upload anchor points (purpose fine-tune), list, retrieve, read back, delete."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse

from anchortune.api.shapes import file_object, page
from anchortune.app import datasets

router = APIRouter(prefix="/v1/files", tags=["files"])


def upload_chunks(upload: UploadFile, size: int = 1 << 20):
    return iter(lambda: upload.file.read(size), b"")


@router.post("")
def create_file(request: Request, file: UploadFile = File(...), purpose: str = Form("fine-tune")) -> dict:
    row = datasets.upload(request.app.state.workspace, file.filename or "upload.jsonl", upload_chunks(file), purpose)
    return file_object(row)


@router.get("")
def list_files(request: Request, purpose: str | None = None, after: str | None = None, limit: int = 10000,
               order: str = "desc") -> dict:
    rows = [file_object(r) for r in datasets.files(request.app.state.workspace, purpose)]
    return page(rows if order == "desc" else rows[::-1], after, limit)


@router.get("/{file_id}")
def retrieve_file(request: Request, file_id: str) -> dict:
    return file_object(datasets.file(request.app.state.workspace, file_id))


@router.get("/{file_id}/content")
def file_content(request: Request, file_id: str) -> FileResponse:
    ws = request.app.state.workspace
    row = datasets.file(ws, file_id)
    return FileResponse(datasets.file_path(ws, file_id), media_type="application/octet-stream", filename=row["filename"])


@router.delete("/{file_id}")
def delete_file(request: Request, file_id: str) -> dict:
    row = datasets.delete_file(request.app.state.workspace, file_id)
    return {"id": row["id"], "object": "file", "deleted": True}
