-- auto-tagger: tags a new memory with the user's own vocabulary (every tag
-- the plugin has seen on a memory, kept in kv) when the tag's words appear
-- in the content, and with the keyword rules of the settings.
--
-- It runs in on_memory_creating, before the memory is stored: the tags it
-- returns are written with the row, so tagging costs no second write
-- (docs/PLUGINS.md "Tagging before the insert"). What it derives from the
-- kv value and the settings is kept between calls of a reused sandbox
-- (keyed by the text it came from, so never stale).
--
-- It runs for every memory of a bulk ingest, so a call allocates little:
-- of the content's words only those some tag or rule uses are kept
-- (pos.text.words filters them in C, host API 2), and a memory none of
-- them appears in is done after that one pass.

local VOCAB_MAX = 500

-- The words of a phrase, in order.
local function word_list(phrase)
  local list = {}
  for w in phrase:lower():gmatch("%w+") do list[#list + 1] = w end
  return list
end

-- True when the phrase has a word and every one is in `words`.
local function has_all(words, list)
  for i = 1, #list do
    if not words[list[i]] then return false end
  end
  return #list > 0
end

local function parse_rules(s)
  local rules = {}
  for tag, kws in (s or ""):gmatch("([^:;]+):([^;]*)") do
    tag = tag:match("^%s*(.-)%s*$")
    local list = {}
    for kw in kws:gmatch("[^,]+") do
      kw = kw:match("^%s*(.-)%s*$"):lower()
      if kw ~= "" then list[#list + 1] = word_list(kw) end
    end
    if tag ~= "" then rules[#rules + 1] = {tag = tag, keywords = list} end
  end
  return rules
end

-- The settings (fixed for a sandbox: changing them makes a new one) and
-- the rules parsed from them.
local settings, rules, limit

-- The vocabulary of the last kv value seen, each tag's words
-- ("project-apollo" -> {"project", "apollo"}), its tags as a set, and
-- `need`: every word a vocabulary tag or a rule uses.
local vocab_text, vocab, vocab_words, known, need = nil, {}, {}, {}, nil

local kv_get = pos.kv.get
local text_words = pos.text.words

-- Derives the tables from the kv text `v` when it changed.
local function use_vocab(v)
  if v ~= vocab_text or not need then
    vocab_text = v
    vocab = v and pos.json.decode(v) or {}
    vocab_words, known, need = {}, {}, {}
    for i, tag in ipairs(vocab) do
      local list = word_list((tag:gsub("[%-_/]", " ")))
      vocab_words[i] = list
      known[tag] = true
      for j = 1, #list do need[list[j]] = true end
    end
    for _, r in ipairs(rules) do
      for _, kw in ipairs(r.keywords) do
        for j = 1, #kw do need[kw[j]] = true end
      end
    end
  end
end

-- One kv read per batch: the memories of one request share the
-- sandbox's globals, reset when it ends (docs/PLUGINS.md), and within it
-- the host answers a key with its first read or the plugin's own writes
-- anyway. The global `vocab_read` marks the read.
local function load_vocab()
  if vocab_read then return end
  use_vocab(kv_get("vocab"))
  vocab_read = true
end

local function has(list, x)
  for i = 1, #list do
    if list[i] == x then return true end
  end
  return false
end

-- The content's words that `need` holds, as a set (cleared after each
-- call), and the tags of a memory that has none (never changed).
local words, NONE = {}, {}

-- `add` with `tag` appended unless the memory has it, it is there
-- already, or `limit` tags are.
local function want(add, own, tag, limit)
  if (not add or #add < limit) and not has(own, tag) and not (add and has(add, tag)) then
    add = add or {}
    add[#add + 1] = tag
  end
  return add
end

function on_memory_creating(ev)
  local m = ev.memory
  if not settings then
    settings = pos.settings()
    rules = parse_rules(settings.rules)
    limit = math.tointeger(settings.max_tags) or 5
  end
  if not vocab_read then load_vocab() end
  local own = m.tags or NONE

  -- One pass in C over the content (pos.text.words): only the words
  -- some tag or rule uses come back, each once.
  local found = text_words(m.content or "", need)
  local nf = #found
  for i = 1, nf do words[found[i]] = true end

  local add
  if nf > 0 then
    -- A phrase whose first word is not there is skipped without a call.
    for i = 1, #vocab do
      local list = vocab_words[i]
      if words[list[1]] and has_all(words, list) then add = want(add, own, vocab[i], limit) end
    end
    for i = 1, #rules do
      local r = rules[i]
      local kws = r.keywords
      for j = 1, #kws do
        local kw = kws[j]
        if words[kw[1]] and has_all(words, kw) then add = want(add, own, r.tag, limit) break end
      end
    end
    for i = 1, nf do words[found[i]] = nil end
  end

  -- Learn the memory's own tags for next time.
  local learned
  if #own > 0 then
    for i = 1, #own do
      local t = own[i]
      if not known[t] and #vocab + #(learned or {}) < VOCAB_MAX
         and not (learned and has(learned, t)) then
        learned = learned or {}
        learned[#learned + 1] = t
      end
    end
  end
  if learned then
    local grown = table.move(vocab, 1, #vocab, 1, {})
    table.move(learned, 1, #learned, #grown + 1, grown)
    local text = pos.json.encode(grown)
    if pos.kv.set("vocab", text) then use_vocab(text) end
  end

  if not add then return nil end
  return {tags = add}
end
