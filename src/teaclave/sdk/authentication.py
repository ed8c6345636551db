"""``AuthenticationService``: users, passwords and login."""

from __future__ import annotations

from google.protobuf import empty_pb2

from teaclave.proto import teaclave_authentication_service_pb2 as pb
from teaclave.rpc.apis import TeaclaveAuthenticationApi
from teaclave.sdk._service import TeaclaveService


class AuthenticationService(TeaclaveService):
    """Client of the authentication API (port 7776)."""

    name = "authentication"
    api = TeaclaveAuthenticationApi

    def user_login(self, user_id: str, user_password: str) -> str:
        """Log in; returns the token and keeps ``{"id", "token"}`` as this client's metadata."""
        response = self._call(
            "UserLogin",
            pb.UserLoginRequest(id=user_id, password=user_password),
            pb.UserLoginResponse,
            authenticated=False,
        )
        self.metadata = {"id": user_id, "token": response.token}
        return str(response.token)

    login = user_login

    def user_register(
        self, user_id: str, user_password: str, role: str = "", attribute: str = ""
    ) -> None:
        """Register a user (the caller's role decides which roles it may create)."""
        self._call(
            "UserRegister",
            pb.UserRegisterRequest(
                id=user_id, password=user_password, role=role, attribute=attribute
            ),
            empty_pb2.Empty,
        )

    def user_update(self, user_id: str, user_password: str, role: str, attribute: str = "") -> None:
        """Replace a user's password and role."""
        self._call(
            "UserUpdate",
            pb.UserUpdateRequest(
                id=user_id, password=user_password, role=role, attribute=attribute
            ),
            empty_pb2.Empty,
        )

    def user_change_password(self, user_password: str) -> None:
        """Change the caller's own password."""
        self._call(
            "UserChangePassword",
            pb.UserChangePasswordRequest(password=user_password),
            empty_pb2.Empty,
        )

    def reset_user_password(self, user_id: str) -> str:
        """Reset a user's password; returns the new random password."""
        response = self._call(
            "ResetUserPassword",
            pb.ResetUserPasswordRequest(id=user_id),
            pb.ResetUserPasswordResponse,
        )
        return str(response.password)

    def delete_user(self, user_id: str) -> None:
        """Delete a user."""
        self._call("DeleteUser", pb.DeleteUserRequest(id=user_id), empty_pb2.Empty)

    def list_users(self, attribute: str) -> list[str]:
        """User ids visible to the caller (``attribute``: Teaclave's ``ListUsersRequest.id``)."""
        response = self._call("ListUsers", pb.ListUsersRequest(id=attribute), pb.ListUsersResponse)
        return list(response.ids)
