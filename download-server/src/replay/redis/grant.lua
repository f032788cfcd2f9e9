-- The grant rules of replay/grant.rs, run atomically inside Redis: one script call per step,
-- so every instance on this Redis sees one order of opens, joins, renewals and closes.
--
-- A token's key (`<prefix>jti:<jti>`) is absent (never used), a grant as JSON, or any other
-- string (used, no grant: spent, ended, or a consumption by an older version).
-- join: KEYS[1] the epoch key, KEYS[2..] the keys of the tokens it joins (the joins of
--       concurrent requests travel together, each applied as if alone, in order).
-- peek, renew: KEYS[1] the token's key, KEYS[2] the epoch key.
-- close: KEYS[1] the history stream (`<prefix>events`), KEYS[2] the epoch key, KEYS[3..] the
--        keys of the tokens whose streams it closes.
-- ARGV[1]: the step (join, peek, renew, close); ARGV[2]: now (seconds); then per step (below).
-- Byte offsets stay below 2^53, so Lua's numbers hold them exactly; stream ids are strings.
--
-- The store prepends `POLICY` (the grant policy and lease constants) and `MAX_EVENTS` (a string,
-- as XADD takes it) to this text at startup: constants in the script's text, not nine arguments
-- parsed on every call.

local SPENT, ENDED, CHANGED, BUSY, EXPIRED, BEFORE_EPOCH, OPEN = 1, 2, 3, 4, 5, 6, 7

-- `now` is reassigned per join of a batch: each join keeps its own request's clock.
local step, now = ARGV[1], tonumber(ARGV[2])
local policy = POLICY
local arg = function(i) return ARGV[2 + i] end

local function floor_div(a, b) return math.floor(a / b) end

-- A whole number as Redis's argument: `%d` formats it as an integer, where the default
-- conversion of a Lua number (`%.14g`) takes a floating-point printf (a tenth of a join's time).
local function integer(n) return string.format('%d', n) end

local function redundancy(size)
  return math.min(floor_div(size, 2),
    math.max(policy.redundancy_min, floor_div(size, math.max(policy.redundancy_divisor, 1))))
end

local function lease(size)
  return math.min(math.max(floor_div(redundancy(size), 4), policy.lease_min), policy.lease_max)
end

-- Sorted, merged, non-empty half-open spans.
local function merged(spans)
  local live = {}
  for _, s in ipairs(spans) do
    if s[1] < s[2] then live[#live + 1] = { s[1], s[2] } end
  end
  table.sort(live, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local out = {}
  for _, s in ipairs(live) do
    local last = out[#out]
    if last and s[1] <= last[2] then
      if s[2] > last[2] then last[2] = s[2] end
    else
      out[#out + 1] = s
    end
  end
  return out
end

local function covers(spans, size)
  return size == 0 or (spans[1] ~= nil and spans[1][1] == 0 and spans[1][2] >= size)
end

local function containing(claimed, pos)
  for _, s in ipairs(claimed) do
    if s[1] <= pos and pos < s[2] then return s[2] end
  end
  return nil
end

-- Streams are {id, pos, end, want, fresh, origin}.
local function spent(g)
  return #g.t == 0 and covers(g.d, g.s)
end

local function ended(g)
  return now - g.o > policy.max_age or (#g.t == 0 and now - g.l > policy.idle)
end

local function find(g, id)
  for i, s in ipairs(g.t) do
    if s[1] == id then return i end
  end
  return nil
end

-- What the other streams hold: their runs [origin, end) (merged), those and the delivered bytes
-- (merged), and the budget left once their leases are reserved.
local function claims_besides(g, id)
  local leases, all, reserved = {}, {}, 0
  for _, s in ipairs(g.d) do all[#all + 1] = s end
  for _, s in ipairs(g.t) do
    if s[1] ~= id then
      reserved = reserved + (s[3] - s[2])
      leases[#leases + 1] = { s[6], s[3] }
      all[#all + 1] = { s[6], s[3] }
    end
  end
  return { live = merged(leases), all = merged(all), available = math.max(g.b - (g.n + reserved), 0) }
end

-- The end of the next lease for a stream at pos wanting [pos, want), or nil: stop; and the
-- stream's new fresh flag. As Claims::lease_end in grant.rs.
local function lease_end(claims, fresh, pos, want, delivered, cap)
  local stop, resend
  if containing(claims.live, pos) then
    if fresh then return nil, fresh end
    stop, resend = containing(claims.all, pos), true
  else
    local delivered_end = containing(delivered, pos)
    if delivered_end then
      -- Up to another live stream's bytes at most: the next lease decides about those.
      stop, resend = delivered_end, true
      for _, s in ipairs(claims.live) do
        if s[1] > pos then stop = math.min(stop, s[1]); break end
      end
    else
      stop, resend = math.huge, false
      for _, s in ipairs(claims.all) do
        if s[1] > pos then stop = s[1]; break end
      end
    end
  end
  local finish = math.min(stop, want, pos + math.min(cap, claims.available))
  if finish <= pos then return nil, fresh end
  if not resend then fresh = true end
  return finish, fresh
end

local function commit(g, index, written)
  local s = g.t[index]
  written = math.max(s[2], math.min(written, s[3]))
  if written > s[2] then
    g.n = g.n + (written - s[2])
    local spans = {}
    for _, d in ipairs(g.d) do spans[#spans + 1] = d end
    spans[#spans + 1] = { s[2], written }
    g.d = merged(spans)
    s[2] = written
  end
end

local function join(g, id, etag, start, want, whole)
  local existing = find(g, id)
  if existing then return 0, g.t[existing][3] end
  if ended(g) or g.q >= policy.max_requests then return ENDED end
  if etag ~= g.e then return CHANGED end
  if spent(g) and (g.s > 0 or g.q > 0) then return SPENT end
  if #g.t >= policy.max_streams then return BUSY end
  want = math.min(want, g.s)
  start = math.min(start, want)
  local first = #g.d == 0 and #g.t == 0
  local stream = { id, start, start, want, false, start }
  local claims = claims_besides(g, id)
  local region_end = containing(claims.all, start)
  if region_end and math.min(region_end, want) - start > claims.available then return SPENT end
  local cap = lease(g.s)
  if whole then
    cap = want - start
  elseif first then
    cap = math.max(cap, policy.first_lease)
  end
  if start < want then
    -- A whole lease takes every run up to want at once, as join_as in grant.rs.
    local finish, fresh = start, false
    repeat
      local next_finish
      next_finish, fresh = lease_end(claims, fresh, finish, want, g.d, cap - (finish - start))
      if not next_finish then return SPENT end
      claims.available = claims.available - (next_finish - finish)
      finish = next_finish
    until not whole or finish >= want
    stream[3], stream[5] = finish, fresh
  end
  g.q = g.q + 1
  g.l = now
  g.t[#g.t + 1] = stream
  return 0, stream[3]
end

local function renew(g, id, written)
  local index = find(g, id)
  if not index then return nil end
  commit(g, index, written)
  g.l = now
  local s = g.t[index]
  if now - g.o > policy.max_age or s[2] >= s[4] then
    table.remove(g.t, index)
    return nil
  end
  local claims = claims_besides(g, id)
  local finish, fresh = lease_end(claims, s[5], s[2], s[4], g.d, lease(g.s))
  if not finish then
    table.remove(g.t, index)
    return nil
  end
  s[3], s[5] = finish, fresh
  return finish
end

-- 0: open, 1: spent, 2: released. `counted`: `written` counts bytes from the stream's origin.
local function close(g, id, written, counted)
  local index = find(g, id)
  if index then
    if counted then written = g.t[index][6] + written end
    commit(g, index, written)
    table.remove(g.t, index)
    g.l = now
  end
  if #g.t > 0 then return 0 end
  if g.s == 0 then return 1 end
  if #g.d == 0 then return 2 end
  if covers(g.d, g.s) then return 1 end
  return 0
end

local function load(key)
  local raw = redis.call('GET', key)
  if raw and string.sub(raw, 1, 1) == '{' then
    local g = cjson.decode(raw)
    -- cjson decodes an empty array as an empty object: both are empty tables.
    return g, raw
  end
  return nil, raw
end

-- The key lives while the token could be accepted (`retain`, exp + leeway + margin) and while
-- its grant could still be joined.
local function save(key, g, retain)
  local until_ = math.max(retain, math.min(g.o + policy.max_age, now + policy.idle) + 60)
  redis.call('SET', key, cjson.encode(g), 'EXAT', integer(until_))
end

-- The grant is over: keep only "used" for as long as the token could be accepted.
local function forget(key, retain)
  if retain > now then
    redis.call('SET', key, '1', 'EXAT', integer(retain))
  else
    redis.call('DEL', key)
  end
end

local function epoch(key)
  local value = redis.call('GET', key)
  if not value then
    redis.call('SET', key, now)
    value = now
  end
  return tonumber(value)
end

-- A join's or peek's code and lease end, for the token's key `key` with its arguments
-- `a(1..9)`: iat, retain, may_open, etag, size, start, want, stream, lease (renewed or whole).
local function join_or_peek(key, a, current)
  local iat, retain, may_open = tonumber(a(1)), tonumber(a(2)), a(3) == '1'
  local etag, size, start, want, id = a(4), tonumber(a(5)), tonumber(a(6)), tonumber(a(7)), a(8)
  if iat < current then return BEFORE_EPOCH, 0 end
  local g, raw = load(key)
  if step == 'peek' then
    if g then
      if ended(g) then return ENDED, 0 end
      if g.e ~= etag then return CHANGED, 0 end
      if spent(g) then return SPENT, 0 end
      return OPEN, 0
    end
    if raw then return SPENT, 0 end
    if may_open then return 0, 0 end
    return EXPIRED, 0
  end
  if not g then
    if raw then return SPENT, 0 end
    if not may_open then return EXPIRED, 0 end
    g = { e = etag, s = size, b = size + redundancy(size), o = now, l = now, q = 0, n = 0, d = {}, t = {} }
  end
  local code, finish = join(g, id, etag, start, want, a(9) == 'whole')
  if code == ENDED then
    forget(key, retain)
  elseif code == 0 then
    save(key, g, retain)
  end
  return code, finish or 0
end

if step == 'peek' then
  local current = epoch(KEYS[2])
  local code, finish = join_or_peek(KEYS[1], arg, current)
  return { code, finish, current }
end

if step == 'join' then
  -- Per token key KEYS[1 + i]: now, then the nine arguments of join_or_peek. The reply is the
  -- epoch, then a code and a lease end per join.
  local current = epoch(KEYS[1])
  local reply = { current }
  for i = 2, #KEYS do
    local at = 2 + 10 * (i - 2)
    now = tonumber(ARGV[at + 1])
    local code, finish = join_or_peek(KEYS[i], function(j) return ARGV[at + 1 + j] end, current)
    reply[#reply + 1] = code
    reply[#reply + 1] = finish
  end
  return reply
end

if step == 'renew' then
  -- stream, written, retain
  local g = load(KEYS[1])
  if not g then return { 1, 0 } end
  local finish = renew(g, arg(1), tonumber(arg(2)))
  save(KEYS[1], g, tonumber(arg(3)))
  if finish then return { 0, finish } end
  return { 1, 0 }
end

if step == 'close' then
  -- Many streams at once (the closes of concurrent downloads travel together). Per token key
  -- KEYS[2 + i]: stream, sent, retain, upto or count, and the stream's history event (JSON) or
  -- '', appended here, in the same call as the close it describes.
  local closed = 0
  for i = 3, #KEYS do
    local key, at = KEYS[i], 2 + 5 * (i - 3)
    local event, retain = ARGV[at + 5], tonumber(ARGV[at + 3])
    if event ~= '' then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', MAX_EVENTS, '*', 'e', event)
    end
    local g = load(key)
    if g then
      local after = close(g, ARGV[at + 1], tonumber(ARGV[at + 2]), ARGV[at + 4] == 'count')
      if after == 0 then
        save(key, g, retain)
      elseif after == 1 then
        forget(key, retain)
      else
        redis.call('DEL', key)
      end
      closed = closed + 1
    end
  end
  return { closed }
end

return redis.error_reply('unknown step ' .. tostring(step))
