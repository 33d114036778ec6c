"""Mail that comes back: bounces, complaints and mailto: unsubscribes, brought in by the
mailbox poller (mailbox.py) or the LMTP/SMTP receiver (receiver.py) and applied by process.py."""
