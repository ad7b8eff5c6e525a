"""jarvis's chat bot (IRC and XMPP): one command core over the orchestrator. Arrives with issue 4."""
