-- Fails on every call, so the manager must count and disable it.
function on_memory_created(ev) error("crash on " .. ev.memory.id) end
function on_memory_accessed(ev) while true do end end
