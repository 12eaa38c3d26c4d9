"""Component endpoints: one model at a time, for callers that need only that answer.

Nothing here is recorded in the audit trail: these answers decide nothing (a triage does).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, status
from fastapi.exceptions import RequestValidationError

from features.codes import ReasonCode
from serving.config import Principal, Role
from serving.deps import PredictorsDep, require_roles
from serving.examples import NOTES_EXAMPLES
from serving.predictors import PhotoRejected
from serving.routers.triage import AUTH_ERRORS
from serving.schemas import (
    Alternative,
    NoteReasonPublic,
    NotesCreate,
    NotesPublic,
    PhotosCreate,
    PhotosPublic,
)
from serving.triage import damage_public

router = APIRouter(prefix="/components", tags=["components"])

ComponentCaller = Annotated[
    Principal,
    Depends(require_roles(Role.WORKFLOW, Role.INSPECTOR, Role.DATA_SCIENTIST, Role.ADMIN)),
]
"""Workflow systems, inspectors and data scientists may call single models."""

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The model is not loaded (the service runs on rules)"}
}


@router.post(
    "/reason",
    operation_id="classify_notes",
    summary="Classify free-text notes into reason codes",
    response_model=NotesPublic,
    responses={**AUTH_ERRORS, **UNAVAILABLE},
)
def classify_notes(
    body: Annotated[NotesCreate, Body(openapi_examples=NOTES_EXAMPLES)],
    caller: ComponentCaller,
    predictors: PredictorsDep,
) -> NotesPublic:
    """The reason model's code, confidence and alternatives for each note, and whether it
    disagrees with the code the customer picked (when given)."""
    if predictors.reason is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"reason model unavailable: {predictors.statuses['reason'].detail}",
        )
    data = []
    for note in body.notes:
        call = predictors.predict_reason(note.text, note.customer_reason_code or ReasonCode.OTHER)
        if call.output is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"reason model failed: {call.error}"
            )
        answer = call.output
        data.append(
            NoteReasonPublic(
                id=note.id,
                code=answer.code,
                confidence=round(answer.confidence, 6),
                alternatives=[
                    Alternative(code=code.value, confidence=round(p, 6))
                    for code, p in answer.alternatives
                ],
                disagrees_with_customer=(
                    answer.code != note.customer_reason_code
                    if note.customer_reason_code is not None
                    else None
                ),
                reasons=list(answer.reasons),
            )
        )
    return NotesPublic(data=data, count=len(data), model_version=predictors.versions()["reason"])


@router.post(
    "/damage",
    operation_id="assess_photos",
    summary="Assess photos for damage",
    response_model=PhotosPublic,
    responses={
        **AUTH_ERRORS,
        **UNAVAILABLE,
        422: {"description": "Invalid body, or a photo that is not a readable image"},
    },
)
def assess_photos(
    body: PhotosCreate, caller: ComponentCaller, predictors: PredictorsDep
) -> PhotosPublic:
    """Damage probability and type per photo, and the case-level aggregate (the most damaged
    photo decides), by `product_line`'s own heads when the model has them (`damage.heads`
    says which answered). A photo that is not a readable JPEG, PNG or WebP image is a 422."""
    if predictors.damage is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"damage model unavailable: {predictors.statuses['damage'].detail}",
        )
    try:
        call = predictors.assess_photos(body.photos, body.product_line)
    except PhotoRejected as exc:
        loc = ["body", "photos", exc.index, "content_base64"]
        raise RequestValidationError(
            [{"loc": loc, "msg": f"not a readable image: {exc}", "type": "image_rejected"}]
        ) from None
    if call.output is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"damage model: {call.error}")
    damage = damage_public(call.output)
    assert damage is not None
    return PhotosPublic(damage=damage, model_version=predictors.versions()["damage"])
