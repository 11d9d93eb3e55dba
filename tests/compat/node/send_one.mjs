// Sends one track call with the unmodified @segment/analytics-node and prints the errors it
// reported as JSON (driven by tests/compat/test_sdk_errors.py; not a `node --test` file).
import { Analytics } from '@segment/analytics-node'

const env = process.env
const analytics = new Analytics({
  writeKey: env.SHOPWISE_WRITE_KEY,
  host: env.SHOPWISE_URL,
  flushInterval: 50,
  maxRetries: 3
})
const errors = []
analytics.on('error', (error) => errors.push(`${error.code}: ${error.reason}`))
analytics.track({
  anonymousId: env.SHOPWISE_ANON,
  event: 'Product Viewed',
  properties: { product_id: 'p-1', price: 20 }
})
await analytics.closeAndFlush({ timeout: 30000 })
console.log(JSON.stringify({ errors }))
