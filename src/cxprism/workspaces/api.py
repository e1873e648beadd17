"""Workspace, users, teams, API keys and tracking sources: a thin HTTP layer over the service."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from cxprism.workspaces import schemas
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.models import ApiKey, Source
from cxprism.workspaces.permissions import Permission, Role
from cxprism.workspaces.service import WorkspaceService, reveal_write_key

router = APIRouter(route_class=TransactionalRoute, tags=["workspace"])

Session = Depends(db_session)
Manage = Depends(require(Permission.WORKSPACE_MANAGE))
ReadUsers = Depends(require(Permission.USERS_READ))
ManageTeams = Depends(require(Permission.TEAMS_MANAGE))


def _service(session: AsyncSession, principal: Principal) -> WorkspaceService:
    return WorkspaceService(session, principal.workspace_id, principal.user_id)


def _cursor(last: uuid.UUID | None) -> str | None:
    return encode_cursor(last) if last else None


@router.get("/workspace", response_model=schemas.WorkspaceOut)
async def get_workspace(session: AsyncSession = Session,
                        principal: Principal = ReadUsers) -> object:
    return await _service(session, principal).get_workspace()


@router.patch("/workspace", response_model=schemas.WorkspaceOut)
async def update_workspace(data: schemas.WorkspaceUpdate, session: AsyncSession = Session,
                           principal: Principal = Manage) -> object:
    return await _service(session, principal).update_workspace(data)


@router.get("/users", response_model=Page[schemas.UserOut])
async def list_users(cursor: str | None = None, limit: int | None = None,
                     session: AsyncSession = Session, principal: Principal = ReadUsers) -> object:
    users, last = await _service(session, principal).list_users(
        decode_cursor(cursor), clamp_limit(limit))
    return {"data": users, "next_cursor": _cursor(last)}


@router.post("/users", response_model=schemas.UserOut, status_code=201)
async def create_user(data: schemas.UserCreate, session: AsyncSession = Session,
                      principal: Principal = Manage) -> object:
    return await _service(session, principal).create_user(data)


@router.get("/users/{user_id}", response_model=schemas.UserOut)
async def get_user(user_id: uuid.UUID, session: AsyncSession = Session,
                   principal: Principal = ReadUsers) -> object:
    return await _service(session, principal).get_user(user_id)


@router.patch("/users/{user_id}", response_model=schemas.UserOut)
async def update_user(user_id: uuid.UUID, data: schemas.UserUpdate,
                      session: AsyncSession = Session, principal: Principal = Manage) -> object:
    return await _service(session, principal).update_user(user_id, data)


async def _team_out(service: WorkspaceService, team_id: uuid.UUID) -> schemas.TeamOut:
    team = await service.get_team(team_id)
    out = schemas.TeamOut.model_validate(team)
    out.member_ids = await service.team_member_ids(team.id)
    return out


@router.get("/teams", response_model=Page[schemas.TeamOut])
async def list_teams(cursor: str | None = None, limit: int | None = None,
                     session: AsyncSession = Session, principal: Principal = ReadUsers) -> object:
    service = _service(session, principal)
    teams, last = await service.teams.page(after=decode_cursor(cursor), limit=clamp_limit(limit))
    return {"data": [await _team_out(service, t.id) for t in teams], "next_cursor": _cursor(last)}


@router.post("/teams", response_model=schemas.TeamOut, status_code=201)
async def create_team(data: schemas.TeamCreate, session: AsyncSession = Session,
                      principal: Principal = ManageTeams) -> object:
    service = _service(session, principal)
    return await _team_out(service, (await service.create_team(data)).id)


@router.get("/teams/{team_id}", response_model=schemas.TeamOut)
async def get_team(team_id: uuid.UUID, session: AsyncSession = Session,
                   principal: Principal = ReadUsers) -> object:
    return await _team_out(_service(session, principal), team_id)


@router.patch("/teams/{team_id}", response_model=schemas.TeamOut)
async def update_team(team_id: uuid.UUID, data: schemas.TeamUpdate,
                      session: AsyncSession = Session,
                      principal: Principal = ManageTeams) -> object:
    service = _service(session, principal)
    await service.update_team(team_id, data)
    return await _team_out(service, team_id)


@router.delete("/teams/{team_id}", status_code=204)
async def delete_team(team_id: uuid.UUID, session: AsyncSession = Session,
                      principal: Principal = ManageTeams) -> Response:
    await _service(session, principal).delete_team(team_id)
    return Response(status_code=204)


@router.post("/teams/{team_id}/members", response_model=schemas.TeamOut)
async def add_team_member(team_id: uuid.UUID, data: schemas.TeamMemberAdd,
                          session: AsyncSession = Session,
                          principal: Principal = ManageTeams) -> object:
    service = _service(session, principal)
    await service.add_team_member(team_id, data.user_id)
    return await _team_out(service, team_id)


@router.delete("/teams/{team_id}/members/{user_id}", status_code=204)
async def remove_team_member(team_id: uuid.UUID, user_id: uuid.UUID,
                             session: AsyncSession = Session,
                             principal: Principal = ManageTeams) -> Response:
    await _service(session, principal).remove_team_member(team_id, user_id)
    return Response(status_code=204)


def _key_out(key: ApiKey) -> schemas.ApiKeyOut:
    return schemas.ApiKeyOut(
        id=key.id, name=key.name, role=Role(key.role), prefix=f"cxp_{key.lookup}",
        created_at=key.created_at, last_used_at=key.last_used_at,
        expires_at=key.expires_at, revoked_at=key.revoked_at)


@router.get("/api-keys", response_model=Page[schemas.ApiKeyOut])
async def list_api_keys(cursor: str | None = None, limit: int | None = None,
                        session: AsyncSession = Session, principal: Principal = Manage) -> object:
    keys, last = await _service(session, principal).list_api_keys(
        decode_cursor(cursor), clamp_limit(limit))
    return {"data": [_key_out(k) for k in keys], "next_cursor": _cursor(last)}


@router.post("/api-keys", response_model=schemas.ApiKeyCreated, status_code=201)
async def create_api_key(data: schemas.ApiKeyCreate, session: AsyncSession = Session,
                         principal: Principal = Manage) -> object:
    key, secret = await _service(session, principal).create_api_key(data)
    return schemas.ApiKeyCreated(**_key_out(key).model_dump(), secret=secret)


@router.delete("/api-keys/{key_id}", response_model=schemas.ApiKeyOut)
async def revoke_api_key(key_id: uuid.UUID, session: AsyncSession = Session,
                         principal: Principal = Manage) -> object:
    return _key_out(await _service(session, principal).revoke_api_key(key_id))


def _source_out(source: Source) -> schemas.SourceOut:
    return schemas.SourceOut(
        id=source.id, name=source.name, kind=schemas.SourceKind(source.kind),
        write_key=reveal_write_key(source), created_at=source.created_at,
        revoked_at=source.revoked_at)


@router.get("/sources", response_model=Page[schemas.SourceOut])
async def list_sources(cursor: str | None = None, limit: int | None = None,
                       session: AsyncSession = Session, principal: Principal = Manage) -> object:
    sources, last = await _service(session, principal).list_sources(
        decode_cursor(cursor), clamp_limit(limit))
    return {"data": [_source_out(s) for s in sources], "next_cursor": _cursor(last)}


@router.post("/sources", response_model=schemas.SourceOut, status_code=201)
async def create_source(data: schemas.SourceCreate, session: AsyncSession = Session,
                        principal: Principal = Manage) -> object:
    source, _ = await _service(session, principal).create_source(data)
    return _source_out(source)


@router.delete("/sources/{source_id}", response_model=schemas.SourceOut)
async def revoke_source(source_id: uuid.UUID, session: AsyncSession = Session,
                        principal: Principal = Manage) -> object:
    return _source_out(await _service(session, principal).revoke_source(source_id))
