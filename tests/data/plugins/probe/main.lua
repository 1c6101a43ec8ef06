-- Probe: a module-level counter (kept by a reused sandbox, for one plugin
-- and user only) and a global set by each call (reset between calls).
local calls = 0

function on_user_action(ev)
  calls = calls + 1
  local before = leaked
  leaked = ev.action
  local mark = string.probe_mark
  string.probe_mark = ev.action
  return {calls = calls, global_before = before, mark_before = mark, label = pos.settings().label}
end

function on_memory_created(ev)
  local c = ev.memory.content or ""
  if c:find("boom", 1, true) then error("boom on purpose") end
  if c:find("bomb", 1, true) then
    local t = {}
    for i = 1, 1e8 do t[i] = string.rep("x", 64) .. i end
  end
  pos.memories.tag(ev.memory.id, pos.settings().label)
  return {}
end
