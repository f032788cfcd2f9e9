-- wrk script: every request takes the next line of a file of request paths (pre-minted
-- /d/{token}/{name} paths, or nginx secure_link URLs), so no token or link is sent twice.
--   wrk -t T -c C -d 10s -s walk.lua http://127.0.0.1:PORT -- PATHS_FILE T
-- Thread k of T sends lines k+1, k+1+T, k+1+2T, ... A thread that runs out starts over (the
-- server then answers 410 and the summary's non-2xx count shows it: mint more).

local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  stride = tonumber(args[2]) or 1
  index = (tid or 0) + 1
  if #paths == 0 then
    error("no paths in " .. args[1])
  end
end

function request()
  local path = paths[index]
  index = index + stride
  if index > #paths then
    index = (tid or 0) + 1
  end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  -- One JSON object on a line starting with "WRK ", which bench/run records for bench/report.py.
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
