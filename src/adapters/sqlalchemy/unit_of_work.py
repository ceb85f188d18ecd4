"""Units of work: one AsyncSession and one transaction each; leaving without commit rolls back."""

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sqlalchemy.errors import translated
from adapters.sqlalchemy.repositories import (SqlaApiKeyRepository, SqlaCityRepository,
                                              SqlaKeyEventLog, SqlaRecordRepository,
                                              SqlaTenantRepository, SqlaUserRepository)
from adapters.sqlalchemy.scope import TransactionScope
from adapters.sqlalchemy.tables import books
from domain.errors import Unavailable
from domain.model import Book
from domain.tenancy import TenantId


class _SqlaUnitOfWork:
    tenant_id: TenantId | None = None

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 scope: TransactionScope) -> None:
        self._sessions, self._scope = sessions, scope
        self._session: AsyncSession | None = None

    def _open(self, session: AsyncSession) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._session = self._sessions(info=self._scope.info(self.tenant_id))
        self._open(self._session)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            with translated():
                await session.close()  # rolls back whatever was not committed
        except Unavailable:
            if exc is None:
                raise
            # the connection died with the work: the work's own error tells the caller

    async def commit(self) -> None:
        assert self._session is not None, "commit() outside `async with`"
        with translated():
            await self._session.commit()


class SqlaUnitOfWork(_SqlaUnitOfWork):
    """A tenant's unit of work: every repository it opens is scoped to `tenant_id`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], scope: TransactionScope,
                 tenant_id: TenantId) -> None:
        super().__init__(sessions, scope)
        self.tenant_id = tenant_id

    def _open(self, session: AsyncSession) -> None:
        self.books = SqlaRecordRepository(session, self.tenant_id, books, Book)
        self.cities = SqlaCityRepository(session, self.tenant_id)
        self.users = SqlaUserRepository(session, self.tenant_id)


class SqlaOperatorUnitOfWork(_SqlaUnitOfWork):
    """The operator's unit of work over tenants and API keys: it starts with no tenant, and
    only enters one tenant's rows to handle that tenant's keys, or to delete the tenant."""

    def _open(self, session: AsyncSession) -> None:
        self.tenants = SqlaTenantRepository(session, self._scope)
        self.api_keys = SqlaApiKeyRepository(session, self._scope)
        self.key_events = SqlaKeyEventLog(session)
