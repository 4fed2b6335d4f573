"""The services a client asks before it authenticates: AuthMetadataService and IdentityService."""

from __future__ import annotations

from typing import Any

from flyteidl2.auth import auth_service_pb2, identity_pb2


class Identity:
    """The methods of the auth services (the generated applications call them by name)."""

    auth: dict[str, Any]
    # The tokenEndpoint GetOAuth2Metadata advertises: empty, the emulator's own /oauth2/token; else any text
    # (another origin, a relative path), as a tenant whose identity provider is elsewhere, or a hostile server.
    token_endpoint = ""

    async def get_o_auth2_metadata(
        self, request: Any, ctx: Any
    ) -> auth_service_pb2.GetOAuth2MetadataResponse:
        base = f"http://{ctx.request_headers().get('host', '')}"
        return auth_service_pb2.GetOAuth2MetadataResponse(
            issuer=base,
            token_endpoint=self.token_endpoint or f"{base}/oauth2/token",
            authorization_endpoint=f"{base}/oauth2/authorize",
            grant_types_supported=["client_credentials"],
        )

    async def get_public_client_config(
        self, request: Any, ctx: Any
    ) -> auth_service_pb2.GetPublicClientConfigResponse:
        return auth_service_pb2.GetPublicClientConfigResponse(
            client_id="flytectl",
            authorization_metadata_key=self.auth.get("header", "authorization"),
            scopes=["all"],
        )

    async def user_info(self, request: Any, ctx: Any) -> identity_pb2.UserInfoResponse:
        return identity_pb2.UserInfoResponse(
            subject=self.auth.get("client_id") or "anonymous", name="emulator"
        )
