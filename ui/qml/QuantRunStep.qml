// Wizard step 5: the running job: stage, layer i/n, overall progress, elapsed and ETA, the latest
// error figures and the log; Cancel stops at the next unit of work and keeps the job resumable.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Nibble.Bridge

ColumnLayout {
    id: page
    property var wizard: null
    readonly property var p: wizard ? wizard.progress : ({})
    spacing: 10
    Accessible.name: qsTr("Running job")

    Label {
        Layout.fillWidth: true
        font.bold: true
        text: !page.p.stage ? "" : page.p.layers > 0 ? qsTr("Stage: %1 — layer %2 of %3").arg(page.p.stage).arg(page.p.layer + 1).arg(page.p.layers)
                                                     : qsTr("Stage: %1").arg(page.p.stage)
        Accessible.name: text
    }
    ProgressBar {
        Layout.fillWidth: true
        from: 0; to: 1
        value: page.p.fraction || 0
        Accessible.name: qsTr("Job progress: %1 percent").arg(Math.round(100 * value))
    }
    RowLayout {
        Label { text: qsTr("%1 %").arg(Math.round(100 * (page.p.fraction || 0))); Accessible.name: qsTr("Percent done: %1").arg(text) }
        Item { Layout.fillWidth: true }
        Label { text: qsTr("Elapsed %1").arg(page.p.elapsedText || "00:00"); Accessible.name: text }
        Label { text: qsTr("ETA %1").arg(page.p.etaText || "--:--"); Accessible.name: qsTr("Time left: %1").arg(page.p.etaText || qsTr("unknown")) }
    }
    Label {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        text: page.p.message || ""
        Accessible.name: qsTr("Current work: %1").arg(text)
    }
    Label {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        visible: text.length > 0
        text: page.p.errorText || ""
        font.family: "monospace"
        Accessible.name: qsTr("Error figures: %1").arg(text)
    }
    Frame {
        Layout.fillWidth: true
        Layout.fillHeight: true
        Accessible.name: qsTr("Job log")
        ListView {
            id: log
            anchors.fill: parent
            clip: true
            model: page.p.log || []
            delegate: Label { required property string modelData; text: modelData; font.family: "monospace"; Accessible.name: text }
            onCountChanged: positionViewAtEnd()
        }
    }
    Label {
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        visible: page.wizard && page.wizard.error.kind !== undefined && page.wizard.error.kind !== ErrorKinds.None
        text: !page.wizard ? "" : page.wizard.cancelled
              ? qsTr("Cancelled. The job can be resumed: start it again with the same settings, or pick it from the list on step 1.")
              : qsTr("%1: %2\n%3").arg(page.wizard.error.title || "").arg(page.wizard.error.message || "").arg(page.wizard.error.fix || "")
        Accessible.name: text
    }
    RowLayout {
        Button {
            text: qsTr("Cancel job")
            enabled: page.wizard ? page.wizard.running : false
            onClicked: page.wizard.cancel()
            Accessible.name: qsTr("Cancel the quantization job")
        }
        Button {
            text: qsTr("Resume")
            visible: page.wizard && !page.wizard.running && page.wizard.cancelled
            onClicked: page.wizard.start()
            Accessible.name: qsTr("Resume the cancelled job")
        }
    }
}
