-- Host scale: one management server holding 10,000 agents.
--
-- An enrollment whose answer never reached the agent (it gave up waiting while the server was
-- busy) may be sent again with the same token: the token remembers which agent used it (its
-- guid, and the SHA-256 of its public key, hex), and only that agent, with that key, may use
-- it again while it is valid.
ALTER TABLE host_tokens ADD COLUMN used_guid VARCHAR(255) NULL;
ALTER TABLE host_tokens ADD COLUMN used_key VARCHAR(64) NULL;

-- Each server looks for commands queued for its hosts every 50 ms: it reads the few pending or
-- running ones through this index instead of walking every host it holds.
CREATE INDEX IF NOT EXISTS agent_commands_pending ON agent_commands (status, deadline);
