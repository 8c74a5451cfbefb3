"""Notification service: tells buyers about their orders and sellers about what needs them, over email,
SMS (Aliyun, Twilio), Telegram, the order page and signed webhooks, with failover between channels."""
