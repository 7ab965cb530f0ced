"""A replay's worker process: ``python -m services.insights.fold_worker FD`` folds its share of the
customers with ``fold.fold_worker`` over the socket FD it was given (see ``replay.Workers``). It
imports the pure fold only (not the service's HTTP and database code): it starts in half the time."""

import sys
from multiprocessing.connection import Connection

from services.insights import fold

if __name__ == "__main__":
    fold.fold_worker(Connection(int(sys.argv[1])))
