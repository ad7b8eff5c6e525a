from tests.support.chat_world import chat_world

__all__ = ["chat_world"]
