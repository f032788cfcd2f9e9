-- wrk script: every request takes the next line of a file of request paths (pre-minted
-- /d/{token}/{name} paths, or nginx secure_link URLs), so no token or link is sent twice.
--   wrk -t T -c C -d 10s -s walk.lua http://127.0.0.1:PORT -- PATHS_FILE T
-- Thread k of T sends lines k+1, k+1+T, k+1+2T, ... A thread that runs out starts over (the
-- server then answers 410 and the summary's non-2xx count shows it: mint more).

-- Each thread formats its own requests once, in init: request() hands back a string that already
-- exists, so sending allocates nothing and LuaJIT's collector never runs during the case. (Made
-- per request from a table of hundreds of thousands of paths, the garbage stalled wrk's thread
-- for up to 200 ms at a time, which showed as the servers' p99.)

local next_tid = 0
local threads = {}

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  threads[#threads + 1] = thread
end

function init(args)
  local stride, own = tonumber(args[2]) or 1, tid or 0
  prepared, index = {}, 1
  local n = 0
  for line in io.lines(args[1]) do
    if n % stride == own then
      prepared[#prepared + 1] = wrk.format("GET", line)
    end
    n = n + 1
  end
  if #prepared == 0 then
    error("no paths for thread " .. own .. " in " .. args[1])
  end
  collectgarbage("collect")
  -- os.clock() is the whole process's CPU time (clock(3)). wrk runs the threads' inits one after
  -- the other on its main thread, so what the process used after the last one is the load's.
  init_done_cpu = os.clock()
end

function request()
  local r = prepared[index]
  index = index + 1
  if index > #prepared then
    index = 1
  end
  return r
end

function done(summary, latency, requests)
  local setup_cpu = 0
  for _, thread in ipairs(threads) do
    setup_cpu = math.max(setup_cpu, thread:get("init_done_cpu") or 0)
  end
  -- One JSON object on a line starting with "WRK ", which bench/run records for bench/report.py.
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"client_cpu_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), (os.clock() - setup_cpu) * 1e6))
end
