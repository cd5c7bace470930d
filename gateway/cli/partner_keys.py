"""``spgw partners keys add|list|remove`` (attached to the ``partners`` group by gateway.cli): the
public keys partners sign their token requests with (``private_key_jwt``), by kid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.errors import InputInvalid, Issue
from gateway.service.administration.partners import PARTNER, ROLES
from gateway.service.fhir.partner_keys import add_jwks_url, add_keys, list_keys, remove_key


@click.group("keys")
def keys_group() -> None:
    """Partners' public signing keys for private_key_jwt (JWKs or a JWKS URL)."""


@keys_group.command("add")
@click.argument("organization")
@click.option(
    "--jwk",
    "jwk_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A public JWK (or a JWKS document) with a kid.",
)
@click.option("--jwks-url", help="The https URL the partner publishes its JWKS at (fetched now).")
@click.option("--client-id", help="Add to this key set; left out, a new client id is made.")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=PARTNER,
    show_default=True,
    help="The role of a new client id.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def add_command(
    ctx: click.Context,
    organization: str,
    jwk_file: Path | None,
    jwks_url: str | None,
    client_id: str | None,
    role: str,
    as_json: bool,
) -> None:
    """Register ORGANIZATION's public key(s); the partner signs with iss = sub = the client id."""
    if (jwk_file is None) == (jwks_url is None):
        raise click.UsageError("give exactly one of --jwk FILE or --jwks-url URL")
    rt = _runtime(ctx)
    if jwks_url is not None:
        listing = add_jwks_url(rt, organization, jwks_url, client_id=client_id, role=role)
    else:
        assert jwk_file is not None
        listing = add_keys(rt, organization, _read_json(jwk_file), client_id=client_id, role=role)
    _emit(listing.to_dict(), as_json, _text)


@keys_group.command("list")
@click.argument("organization")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def list_command(ctx: click.Context, organization: str, as_json: bool) -> None:
    """ORGANIZATION's registered keys (kid, client id, algorithm, thumbprint) and JWKS URLs."""
    _emit(list_keys(_runtime(ctx), organization).to_dict(), as_json, _text)


@keys_group.command("remove")
@click.argument("kid")
@click.option("--org", "organization", help="The organization (needed when two use the kid).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def remove_command(ctx: click.Context, kid: str, organization: str | None, as_json: bool) -> None:
    """Remove the key KID: assertions signed with it are refused from now on."""
    _emit(remove_key(_runtime(ctx), kid, organization_id=organization).to_dict(), as_json, _removed_text)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputInvalid(
            "the key file is not JSON", [Issue(path=str(path), message="give a JWK or JWKS as JSON")]
        ) from exc


def _text(listing: dict[str, Any]) -> str:
    lines = [
        f"{k['kid']}  {k['clientId']}  {k['algorithm']}  {k['thumbprint']}  {k['source']}"
        for k in listing["keys"]
    ]
    lines += [f"jwks-url  {u['clientId']}  {u['url']}  fetched {u['fetchedAt']}" for u in listing["jwksUrls"]]
    return "\n".join(lines) or f"no keys registered for {listing['organization']}"


def _removed_text(listing: dict[str, Any]) -> str:
    return "\n".join(f"removed {k['kid']} of {k['clientId']}" for k in listing["keys"])


def register(partners: click.Group) -> None:
    partners.add_command(keys_group)
