// Helpers shared by the browser scripts that drive our client (served at /).

/** Waits until pane `index` of the salience module shows scores and has no pending work. */
export async function waitForScores(page, index = 0, timeout = 60_000) {
  await page.locator('seqsal-salience-pane').nth(index).locator('.legend').waitFor({timeout});
  await page.waitForFunction((i) => {
    const pane = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
        .shadowRoot.querySelectorAll('seqsal-salience-pane')[i];
    return pane && !pane.status;
  }, index, {timeout});
}

/** Waits until pane `index` has no background prefetch running (prefetch.ts). */
export async function waitForPrefetch(page, index = 0, timeout = 120_000) {
  await page.waitForFunction((i) => {
    const pane = document.querySelector('seqsal-app').shadowRoot.querySelector('seqsal-salience-module')
        .shadowRoot.querySelectorAll('seqsal-salience-pane')[i];
    return pane && !pane.prefetch?.running;
  }, index, {timeout});
}
