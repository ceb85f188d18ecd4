"""Units of work: one Transaction each (see transactions.py); leaving without commit rolls back."""

from types import TracebackType
from typing import Any, Self, TypeVar

from adapters.sqlalchemy.repositories import (SqlaApiKeyRepository, SqlaKeyEventLog,
                                              SqlaRecordRepository, SqlaTenantRepository,
                                              SqlaUserRepository)
from adapters.sqlalchemy.transactions import Transaction, Transactions
from domain.model import USERS, Record, Resource
from domain.tenancy import TenantId

R = TypeVar("R", bound=Record)


class _SqlaUnitOfWork:
    tenant_id: TenantId | None = None

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions
        self._transaction: Transaction | None = None

    @property
    def transaction(self) -> Transaction:
        """The unit of work's transaction (for SQL of its own, e.g. in tests)."""
        assert self._transaction is not None, "outside `async with`"
        return self._transaction

    def _open(self, transaction: Transaction) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._transaction = self._transactions.open(self.tenant_id)
        self._open(self._transaction)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        await self.transaction.commit()


class SqlaUnitOfWork(_SqlaUnitOfWork):
    """A tenant's unit of work: every repository it opens is scoped to `tenant_id`."""

    tenant_id: TenantId

    def __init__(self, transactions: Transactions, tenant_id: TenantId) -> None:
        super().__init__(transactions)
        self.tenant_id = tenant_id
        self._repositories: dict[Resource[Record], SqlaRecordRepository[Any]] = {}

    def _open(self, transaction: Transaction) -> None:
        self.users = SqlaUserRepository(transaction, self.tenant_id)
        self._repositories = {USERS: self.users}

    def records(self, resource: Resource[R]) -> SqlaRecordRepository[R]:
        """The resource's repository, made on first use in this unit of work."""
        repository = self._repositories.get(resource)
        if repository is None:
            repository = SqlaRecordRepository(self.transaction, self.tenant_id, resource)
            self._repositories[resource] = repository
        return repository


class SqlaOperatorUnitOfWork(_SqlaUnitOfWork):
    """The operator's unit of work over tenants and API keys: it starts with no tenant, and
    only enters one tenant's rows to handle that tenant's keys, or to delete the tenant."""

    def _open(self, transaction: Transaction) -> None:
        self.tenants = SqlaTenantRepository(transaction)
        self.api_keys = SqlaApiKeyRepository(transaction)
        self.key_events = SqlaKeyEventLog(transaction)
