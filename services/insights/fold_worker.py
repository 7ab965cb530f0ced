"""A replay's worker process: ``python -m services.insights.fold_worker FD`` folds its share of the
customers with ``replay.fold_worker`` over the socket FD it was given (see ``replay.Workers``)."""

import sys
from multiprocessing.connection import Connection

from services.insights import replay

if __name__ == "__main__":
    replay.fold_worker(Connection(int(sys.argv[1])))
