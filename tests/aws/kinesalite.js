// Runs kinesalite (in-memory store) on 127.0.0.1 and prints "PORT\n" once
// it listens. Usage: node kinesalite.js [PORT] (0 or none: a free port).
// Streams are ACTIVE at once, so a test can use one right after creating it.
'use strict'
const kinesalite = require('kinesalite')

const port = Number(process.argv[2] || 0)
const server = kinesalite({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100})
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(server.address().port + '\n')
})
process.on('SIGTERM', () => process.exit(0))
