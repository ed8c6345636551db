"""The storage service: a key-value store and FIFO queues for management and the scheduler."""
