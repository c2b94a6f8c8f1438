-- main.lua: a slow start-up, then the modules you are editing.
print('loading the word list (the slow start-up: forkmon does it once)...')
local words = {}
for i = 1, 500000 do words[i] = ('word%d'):format(i % 997) end -- stands in for real loading
print('loaded ' .. #words .. ' entries')

local greet = require('lib.greet') -- lib/greet.lua: edit it while forkmon runs
local style = require('lib.style') -- lib/style.lua: so can this one
print(style.shout(greet.message('world')))
