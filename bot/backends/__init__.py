"""Chat backends: each speaks one protocol and knows nothing of jarvis's commands."""
