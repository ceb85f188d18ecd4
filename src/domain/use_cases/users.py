"""User use cases keyed by name: get, get-or-create and update-or-create."""

from domain.errors import NotFound
from domain.model import User
from domain.ports import Clock, UnitOfWorkFactory
from domain.tenancy import TenantId
from domain.use_cases.records import save_changed


class _UserByName:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock


class GetUserByName(_UserByName):
    """The tenant's user with this name; NotFound otherwise."""

    async def __call__(self, tenant_id: TenantId, name: str) -> User:
        async with self._uow(tenant_id) as uow:
            user = await uow.users.get_by_name(name)
        if user is None:
            raise NotFound(User.KIND, name)
        return user


class GetOrCreateUser(_UserByName):
    """The user with this name, created with `full_name` if new; returns (user, created)."""

    async def __call__(self, tenant_id: TenantId, name: str,
                       full_name: str = "") -> tuple[User, bool]:
        candidate = User.create(tenant_id, self._clock.now(), name=name, full_name=full_name)
        async with self._uow(tenant_id) as uow:
            user, created = await uow.users.get_or_add(candidate)
            await uow.commit()
        return user, created


class UpdateOrCreateUser(_UserByName):
    """Set the full name of the user with this name, creating it if new; (user, created)."""

    async def __call__(self, tenant_id: TenantId, name: str,
                       full_name: str) -> tuple[User, bool]:
        now = self._clock.now()
        candidate = User.create(tenant_id, now, name=name, full_name=full_name)
        async with self._uow(tenant_id) as uow:
            user, created = await uow.users.get_or_add(candidate)  # held for update if it exists
            if not created and user.full_name != full_name:
                user = await save_changed(uow.users, user, {"full_name": full_name}, now)
            await uow.commit()
        return user, created
