// Drives a running Aladdin server with the official Payload client, @payloadcms/sdk.
// Usage: node payload_sdk.mjs <baseURL> <email> <password>
// Exits 0 when every check passes; prints the failing check otherwise.
import assert from 'node:assert/strict'
import { PayloadSDK, PayloadSDKError } from '@payloadcms/sdk'

const [baseURL, email, password] = process.argv.slice(2)
const log = (step, detail = '') => console.log(`ok  ${step}${detail ? `  ${detail}` : ''}`)

async function expectError(promise, status) {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof PayloadSDKError, `expected a PayloadSDKError, got ${error}`)
    assert.equal(error.status, status)
    return error
  }
  assert.fail(`expected HTTP ${status}`)
}

// login
const anonymous = new PayloadSDK({ baseURL })
const login = await anonymous.login({ collection: 'users', data: { email, password } })
assert.equal(login.message, 'Authentication Passed')
assert.equal(login.user.email, email)
assert.equal(login.user.collection, 'users')
assert.equal(typeof login.token, 'string')
assert.ok(login.exp > Date.now() / 1000)
assert.equal(login.user.password, undefined)
log('login', `user ${login.user.id}`)

const sdk = new PayloadSDK({ baseURL, baseInit: { headers: { Authorization: `JWT ${login.token}` } } })

// me
const me = await sdk.me({ collection: 'users' })
assert.equal(me.user.email, email)
assert.equal(me.collection, 'users')
log('me')

// find with where / sort / limit / page
const heads = await sdk.find({
  collection: 'agents',
  where: { isDepartmentHead: { equals: true } },
  sort: '-agentId',
  limit: 3,
  page: 2,
  depth: 0,
})
assert.equal(heads.totalDocs, 7)
assert.equal(heads.totalPages, 3)
assert.equal(heads.page, 2)
assert.equal(heads.limit, 3)
assert.equal(heads.pagingCounter, 4)
assert.equal(heads.hasPrevPage, true)
assert.equal(heads.hasNextPage, true)
const expectedOrder = ['world-head-001', 'visual-head-001', 'video-head-001', 'story-head-001', 'production-head-001', 'character-head-001', 'audio-head-001']
assert.deepEqual(heads.docs.map((d) => d.agentId), expectedOrder.slice(3, 6))
assert.equal(typeof heads.docs[0].department, 'number')
log('find where/sort/limit/page', heads.docs.map((d) => d.agentId).join(', '))

// nested and/or, in, like, relation subfield, sort as an array, default depth populates
const nested = await sdk.find({
  collection: 'agents',
  where: {
    and: [
      { 'department.slug': { in: ['story', 'world'] } },
      { or: [{ name: { like: 'processor' } }, { maxAgentSteps: { greater_than_equal: 20 } }] },
    ],
  },
  sort: ['agentId'],
  limit: 10,
})
assert.deepEqual(nested.docs.map((d) => d.agentId), ['story-head-001', 'story-processor-001', 'world-head-001', 'world-processor-001'])
assert.equal(typeof nested.docs[0].department, 'object')
assert.equal(nested.docs[0].department.slug, 'story')
log('find nested and/or')

// findByID
const one = await sdk.findByID({ collection: 'agents', id: heads.docs[0].id, depth: 1 })
assert.equal(one.agentId, heads.docs[0].agentId)
assert.equal(typeof one.department.name, 'string')
log('findByID', one.agentId)

// create
const department = await sdk.create({ collection: 'departments', data: { slug: 'sdk-dept', name: 'SDK Department' } })
assert.equal(department.slug, 'sdk-dept')
assert.ok(department.id > 0)
const agent = await sdk.create({
  collection: 'agents',
  data: { agentId: 'sdk-agent-001', name: 'SDK Agent', department: department.id, toolNames: [{ toolName: 'getProjectContext' }] },
})
assert.equal(agent.agentId, 'sdk-agent-001')
assert.equal(agent.department.id, department.id)
log('create', `agent ${agent.id}`)

// update by id, then by where
const updated = await sdk.update({ collection: 'agents', id: agent.id, data: { name: 'SDK Agent Renamed' } })
assert.equal(updated.name, 'SDK Agent Renamed')
assert.deepEqual(updated.toolNames, [{ toolName: 'getProjectContext' }])
const bulk = await sdk.update({ collection: 'agents', where: { agentId: { equals: 'sdk-agent-001' } }, data: { maxAgentSteps: 7 } })
assert.equal(bulk.docs.length, 1)
assert.equal(bulk.docs[0].maxAgentSteps, 7)
assert.deepEqual(bulk.errors, [])
assert.equal(bulk.message, 'Updated 1 Agent successfully.')
log('update')

// count
const count = await sdk.count({ collection: 'agents', where: { 'department.slug': { equals: 'sdk-dept' } } })
assert.deepEqual(count, { totalDocs: 1 })
const all = await sdk.count({ collection: 'agents' })
assert.equal(all.totalDocs, 16)
log('count', JSON.stringify(count))

// an invalid create: every field with its path
const invalid = await expectError(
  sdk.create({ collection: 'agents', data: { agentId: 'Not A Slug', toolNames: [{ toolName: '' }] } }),
  400,
)
assert.equal(invalid.errors[0].name, 'ValidationError')
assert.equal(invalid.message, 'The following fields are invalid: agentId, department, name, toolNames.0.toolName')
assert.deepEqual(invalid.errors[0].data.errors.map((e) => e.path), ['agentId', 'department', 'name', 'toolNames.0.toolName'])
log('invalid create', invalid.message)

// delete
const deleted = await sdk.delete({ collection: 'agents', id: agent.id })
assert.equal(deleted.id, agent.id)
const gone = await sdk.findByID({ collection: 'agents', id: agent.id, disableErrors: true })
assert.equal(gone, null)
await expectError(sdk.findByID({ collection: 'agents', id: agent.id }), 404)
const bulkDelete = await sdk.delete({ collection: 'departments', where: { slug: { equals: 'sdk-dept' } } })
assert.equal(bulkDelete.docs.length, 1)
log('delete')

// refresh-token: a new token with a new expiry. The client keeps sending the token it was
// configured with, as Payload clients do, and that token keeps working.
const refreshed = await sdk.refreshToken({ collection: 'users' })
assert.equal(refreshed.message, 'Token refresh successful.')
assert.equal(typeof refreshed.refreshedToken, 'string')
assert.notEqual(refreshed.refreshedToken, login.token)
assert.ok(refreshed.exp >= login.exp)
assert.equal(refreshed.user.email, email)
const kept = await sdk.create({ collection: 'departments', data: { slug: 'sdk-kept', name: 'Kept after refresh' } })
const keptFound = await sdk.find({ collection: 'departments', where: { slug: { equals: 'sdk-kept' } } })
assert.deepEqual(keptFound.docs.map((d) => d.id), [kept.id])
const fresh = new PayloadSDK({ baseURL, baseInit: { headers: { Authorization: `Bearer ${refreshed.refreshedToken}` } } })
const made = await fresh.create({ collection: 'departments', data: { slug: 'sdk-fresh', name: 'Made with the refreshed token' } })
const freshFound = await fresh.find({ collection: 'departments', where: { slug: { in: ['sdk-kept', 'sdk-fresh'] } }, sort: 'slug' })
assert.deepEqual(freshFound.docs.map((d) => d.id), [made.id, kept.id])
assert.equal((await fresh.me({ collection: 'users' })).exp, refreshed.exp)
assert.equal((await sdk.me({ collection: 'users' })).exp, login.exp)
log('refresh-token', 'the original and the refreshed token both work')

// logout ends the session of the token it is called with, and only that one
const logout = await (await sdk.request({ method: 'POST', path: '/users/logout' })).json()
assert.equal(logout.message, 'Logout successful.')
await expectError(sdk.find({ collection: 'departments' }), 401)
assert.equal((await sdk.me({ collection: 'users' })).user, null)
assert.equal((await fresh.me({ collection: 'users' })).user.email, email)
assert.equal((await fresh.count({ collection: 'departments', where: { slug: { equals: 'sdk-kept' } } })).totalDocs, 1)
await fresh.delete({ collection: 'departments', where: { slug: { in: ['sdk-kept', 'sdk-fresh'] } } })
log('logout', 'the other token still works')

console.log('all checks passed')
