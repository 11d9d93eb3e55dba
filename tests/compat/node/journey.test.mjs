// A shopping journey sent by the real, unmodified @segment/analytics-node to shopwise.
//
// Run through pytest (tests/compat/test_node_sdk.py), which starts `shopwise serve` and a proxy
// that loses the answer to the first batch, and passes their addresses in the environment. The
// SDK is pointed at shopwise with its `host` option only (it posts to the root `/v1/batch`).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Analytics } from '@segment/analytics-node'

const env = process.env
const skip = env.SHOPWISE_URL ? false : 'SHOPWISE_URL is not set (run it through pytest)'

async function profileEvents (id) {
  const response = await fetch(`${env.SHOPWISE_URL}/v1/profiles/${id}/events?limit=1000`, {
    headers: { Authorization: `Bearer ${env.SHOPWISE_TEST_SECRET_API_KEY}` }
  })
  return response.status === 200 ? (await response.json()).events : []
}

async function waitForEvents (id, count, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs
  let events = []
  while (Date.now() < deadline) {
    events = await profileEvents(id)
    if (events.length >= count) return events
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return events
}

test('analytics-node journey lands mapped, stitched and once', { skip }, async () => {
  const analytics = new Analytics({
    writeKey: env.SHOPWISE_WRITE_KEY,
    host: env.SHOPWISE_PROXY_URL,
    flushInterval: 200,
    maxRetries: 3
  })
  const errors = []
  analytics.on('error', (error) => errors.push(error))
  const [anon, device, user] = ['node-anon', 'node-device2', 'node-user']

  analytics.page({ anonymousId: anon, name: 'Home', properties: { url: 'https://shop.example/' } })
  analytics.track({
    anonymousId: anon,
    event: 'Product Viewed',
    properties: { product_id: 'p-1', price: 20, category: 'shoes' }
  })
  analytics.track({
    anonymousId: anon,
    event: 'Product Added',
    properties: { sku: 'p-1', quantity: 2, price: 20 }
  })
  analytics.identify({
    userId: user,
    anonymousId: anon,
    traits: { email: 'node@example.com', firstName: 'Ada' }
  })
  analytics.track({
    userId: user,
    event: 'Order Completed',
    properties: {
      order_id: 'node-o1',
      total: 40,
      currency: 'EUR',
      products: [{ product_id: 'p-1', quantity: 2, price: 20 }]
    },
    context: { consent: { categoryPreferences: { Analytics: true, Advertising: false } } }
  })
  analytics.page({ anonymousId: device, name: 'Cart' })
  analytics.alias({ previousId: device, userId: user })
  await analytics.closeAndFlush({ timeout: 30000 })
  assert.deepEqual(errors, [])

  const events = await waitForEvents(user, 7)
  assert.deepEqual(
    events.map((e) => e.type),
    ['page_viewed', 'product_viewed', 'product_added', 'identify', 'order_completed',
      'page_viewed', 'alias']
  )
  assert.equal(new Set(events.map((e) => e.message_id)).size, events.length)
  assert.equal(events[2].product_id, 'p-1')
  assert.equal(events[4].properties.revenue, 40)
  assert.equal(events[0].context.library.name, '@segment/analytics-node')

  const response = await fetch(`${env.SHOPWISE_URL}/v1/profiles/${anon}`, {
    headers: { Authorization: `Bearer ${env.SHOPWISE_TEST_SECRET_API_KEY}` }
  })
  const profile = await response.json()
  assert.deepEqual(profile.user_ids, [user])
  assert.deepEqual(profile.anonymous_ids, [anon, device])
  assert.equal(profile.counters.orders, 1)
  assert.equal(profile.counters.revenue, 40)
  assert.equal(profile.traits.first_name.value, 'Ada')
  assert.equal(profile.consent.advertising.granted, false)
})
